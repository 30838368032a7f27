//! The data contract's checked types.

use contract::{Frequency, Period};

#[test]
fn periods_parse_order_and_step() {
    let year: Period = "2025".parse().unwrap();
    let quarter: Period = "2025Q3".parse().unwrap();
    let month: Period = "2025-09".parse().unwrap();
    assert_eq!((year.frequency(), quarter.frequency(), month.frequency()), (Frequency::Year, Frequency::Quarter, Frequency::Month));
    assert_eq!([year.to_string(), quarter.to_string(), month.to_string()], ["2025", "2025Q3", "2025-09"]);
    // Same end month: a month sorts before its quarter, a quarter before its year.
    assert!(month < quarter && quarter < year);
    assert!("2025-08".parse::<Period>().unwrap() < month);
    assert!("2024".parse::<Period>().unwrap() < "2025-01".parse::<Period>().unwrap());
    assert_eq!(month.same_period_last_year().to_string(), "2024-09");
    assert_eq!(quarter.same_period_last_year().to_string(), "2024Q3");
    assert_eq!("2025-01".parse::<Period>().unwrap().previous().to_string(), "2024-12");
    assert_eq!("2025Q1".parse::<Period>().unwrap().previous().to_string(), "2024Q4");
    assert_eq!((month.months_elapsed_in_year(), quarter.months_elapsed_in_year(), year.months_elapsed_in_year()), (9, 9, 12));
    assert!(("2012".parse::<Period>().unwrap().years_until("2016".parse().unwrap()) - 4.0).abs() < 1e-12);
}

#[test]
fn bad_periods_say_what_was_expected() {
    for bad in ["2025-13", "2025Q5", "25", "2025-9", "2025/09", "", "2025M09"] {
        let error = bad.parse::<Period>().unwrap_err().to_string();
        assert_eq!(error, format!("expected a period like 2025, 2025Q3 or 2025-09, got {bad:?}"));
    }
}
