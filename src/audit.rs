//! The stock audit: invariants over plain numbers, no I/O. A run passes only
//! if the stock never went negative, no more was sold than there was, and
//! what left the stock is exactly what was recorded as sold.

use serde::Serialize;

/// What the coordinator knows at the end of a run, in units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockFacts {
    pub initial: u64,
    /// As Redis reports it; negative after an oversell.
    pub final_stock: i64,
    /// Units recorded as sold by the workers.
    pub sold: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invariant {
    #[serde(rename = "invariant")]
    pub name: &'static str,
    pub expected: String,
    pub observed: String,
    pub pass: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub invariants: Vec<Invariant>,
    /// Units sold beyond the initial stock: `max(sold - initial, -final, 0)`.
    pub oversold: u64,
    /// Units still on sale at the end.
    pub unsold: u64,
    pub verdict: Verdict,
}

pub fn audit(facts: StockFacts) -> Audit {
    let initial = i128::from(facts.initial);
    let final_stock = i128::from(facts.final_stock);
    let sold = i128::from(facts.sold);
    let invariants = vec![
        Invariant {
            name: "final_stock_non_negative",
            expected: ">= 0".to_owned(),
            observed: final_stock.to_string(),
            pass: final_stock >= 0,
        },
        Invariant {
            name: "sold_within_initial_stock",
            expected: format!("<= {initial}"),
            observed: sold.to_string(),
            pass: sold <= initial,
        },
        Invariant {
            name: "stock_conservation",
            expected: format!("initial - final = {}", initial - final_stock),
            observed: format!("sold = {sold}"),
            pass: initial - final_stock == sold,
        },
    ];
    let oversold = (sold - initial).max(-final_stock).max(0);
    let verdict = if invariants.iter().all(|i| i.pass) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    Audit {
        invariants,
        oversold: oversold as u64,
        unsold: final_stock.max(0) as u64,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(initial: u64, final_stock: i64, sold: u64) -> Audit {
        audit(StockFacts {
            initial,
            final_stock,
            sold,
        })
    }

    fn failing(a: &Audit) -> Vec<&'static str> {
        a.invariants
            .iter()
            .filter(|i| !i.pass)
            .map(|i| i.name)
            .collect()
    }

    #[test]
    fn exact_sale_passes() {
        let a = run(100, 90, 10);
        assert_eq!(a.verdict, Verdict::Pass);
        assert_eq!((a.oversold, a.unsold), (0, 90));
        assert!(failing(&a).is_empty());
    }

    #[test]
    fn sold_out_exactly_passes() {
        let a = run(5, 0, 5);
        assert_eq!(a.verdict, Verdict::Pass);
        assert_eq!((a.oversold, a.unsold), (0, 0));
    }

    #[test]
    fn negative_stock_is_an_oversell() {
        // The article's failure: stock 5, six sales, stock -1.
        let a = run(5, -1, 6);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(a.oversold, 1);
        assert_eq!(a.unsold, 0);
        assert_eq!(
            failing(&a),
            ["final_stock_non_negative", "sold_within_initial_stock"]
        );
    }

    #[test]
    fn recorded_sales_beyond_stock_fail_even_if_stock_looks_fine() {
        // Stock reset behind the harness's back: 7 sold of 5, stock 3.
        let a = run(5, 3, 7);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(a.oversold, 2);
        assert_eq!(
            failing(&a),
            ["sold_within_initial_stock", "stock_conservation"]
        );
    }

    #[test]
    fn unrecorded_decrement_breaks_conservation() {
        let a = run(10, 4, 5);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(a.oversold, 0);
        assert_eq!(failing(&a), ["stock_conservation"]);
    }

    #[test]
    fn oversold_takes_the_larger_of_both_measures() {
        let a = run(5, -3, 6);
        assert_eq!(a.oversold, 3);
    }
}
