//! Typed ids and the vectors they index.
//!
//! Invariants: an id is an index into exactly one arena ([`IdVec`]); ids of one kind
//! never index another kind's arena (the type says which), and an `IdVec` only hands out
//! ids of the slots it holds, so indexing with an id it returned never goes out of range.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// An index into an [`IdVec`].
pub trait Id: Copy {
    /// The slot this id names.
    fn index(self) -> usize;
    /// The id of slot `i`; panics if `i` does not fit the id's width (a bug: arenas are
    /// sized from validated scenario limits).
    fn from_index(i: usize) -> Self;
}

/// Index of a request in the simulation's request arena.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u32);

/// Index of an engine instance in the simulation's instance arena.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(pub u16);

/// Index of a port of a transfer network.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortId(pub u32);

macro_rules! impl_id {
    ($t:ident, $w:ty) => {
        impl Id for $t {
            fn index(self) -> usize {
                self.0 as usize
            }
            fn from_index(i: usize) -> Self {
                $t(<$w>::try_from(i).expect(concat!(stringify!($t), " out of range")))
            }
        }
    };
}
impl_id!(RequestId, u32);
impl_id!(InstanceId, u16);
impl_id!(PortId, u32);

/// A `Vec` indexed by a typed id.
#[derive(Clone, Debug)]
pub struct IdVec<I, T> {
    items: Vec<T>,
    _id: PhantomData<fn(I) -> I>,
}

impl<I: Id, T> Default for IdVec<I, T> {
    fn default() -> Self {
        IdVec::new()
    }
}

impl<I: Id, T> IdVec<I, T> {
    /// An empty vector.
    pub fn new() -> Self {
        IdVec {
            items: Vec::new(),
            _id: PhantomData,
        }
    }

    /// Append `item`; returns its id.
    pub fn push(&mut self, item: T) -> I {
        let id = I::from_index(self.items.len());
        self.items.push(item);
        id
    }

    /// The id the next [`Self::push`] returns.
    pub fn next_id(&self) -> I {
        I::from_index(self.items.len())
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it has no slot.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items in id order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The items in id order, mutably.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.items.iter_mut()
    }

    /// The ids in order.
    pub fn ids(&self) -> impl Iterator<Item = I> + use<I, T> {
        (0..self.items.len()).map(I::from_index)
    }

    /// The last item.
    pub fn last_mut(&mut self) -> Option<&mut T> {
        self.items.last_mut()
    }
}

impl<I: Id, T> Index<I> for IdVec<I, T> {
    type Output = T;
    fn index(&self, id: I) -> &T {
        &self.items[id.index()]
    }
}

impl<I: Id, T> IndexMut<I> for IdVec<I, T> {
    fn index_mut(&mut self, id: I) -> &mut T {
        &mut self.items[id.index()]
    }
}

impl<'a, I: Id, T> IntoIterator for &'a IdVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<'a, I: Id, T> IntoIterator for &'a mut IdVec<I, T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter_mut()
    }
}

impl<I: Id, T> FromIterator<T> for IdVec<I, T> {
    fn from_iter<It: IntoIterator<Item = T>>(iter: It) -> Self {
        IdVec {
            items: iter.into_iter().collect(),
            _id: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_returns_the_index_and_indexing_reads_it_back() {
        let mut v: IdVec<InstanceId, &str> = IdVec::new();
        assert_eq!(v.next_id(), InstanceId(0));
        let a = v.push("a");
        let b = v.push("b");
        assert_eq!((a, b), (InstanceId(0), InstanceId(1)));
        v[b] = "c";
        assert_eq!((v[a], v[b], v.len()), ("a", "c", 2));
        assert_eq!(v.ids().collect::<Vec<_>>(), vec![a, b]);
    }

    #[test]
    #[should_panic(expected = "InstanceId out of range")]
    fn an_id_wider_than_its_type_is_a_bug() {
        let _ = InstanceId::from_index(1 << 16);
    }
}
