//! How many units a request costs, for weighted shaping in the tower layer.

/// Tells the [`ShapeLayer`](crate::ShapeLayer) how many units a request costs.
///
/// Implemented by [`Unit`] (every request costs 1, the default) and by any
/// `Fn(&Req) -> u32` closure. A request heavier than the shaper's burst is refused
/// with `Reason::OverCapacity`; a weight of 0 passes at once.
///
/// ```
/// use tollgate_leaky::{Unit, Weigh};
///
/// // A batch call costs one unit per item.
/// let per_item = |batch: &Vec<u64>| batch.len() as u32;
/// assert_eq!(per_item.weigh(&vec![1, 2, 3]), 3);
/// assert_eq!(Unit.weigh(&"anything"), 1);
/// ```
pub trait Weigh<Req>: Clone + Send + Sync + 'static {
    /// The units `request` costs.
    fn weigh(&self, request: &Req) -> u32;
}

impl<F, Req> Weigh<Req> for F
where
    F: Fn(&Req) -> u32 + Clone + Send + Sync + 'static,
{
    fn weigh(&self, request: &Req) -> u32 {
        self(request)
    }
}

/// Every request costs one unit.
///
/// See [`Weigh`] for an example.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unit;

impl<Req> Weigh<Req> for Unit {
    fn weigh(&self, _: &Req) -> u32 {
        1
    }
}
