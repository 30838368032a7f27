//! Property tests of the identities in METRICS.md, each case run through the whole engine.

use proptest::prelude::*;

use crate::engine::{ENTITIES, INDICATORS, MONTHLY, assess, compute, target_cell, target_number, value};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn monthly_sums_equal_year_to_date_totals(months in prop::collection::vec(0.0f64..1000.0, 12)) {
        let mut observations = String::from("entity,indicator,period,value\n");
        for (index, month) in months.iter().enumerate() {
            observations.push_str(&format!("A,sales,2025-{:02},{month}\n", index + 1));
        }
        let metrics = compute(ENTITIES, MONTHLY, &observations, "2025-12");
        let mut total = 0.0;
        for (index, month) in months.iter().enumerate() {
            total += month;
            let ytd = value(&metrics.series, "A", &format!("2025-{:02}", index + 1), "ytd_value").unwrap();
            prop_assert!((ytd - total).abs() < 1e-6 * total.max(1.0), "month {}: {ytd} vs {total}", index + 1);
        }
    }

    #[test]
    fn pulls_sum_to_the_parents_growth_and_contributions_to_100(
        a in (1.0f64..1000.0, 1.0f64..1000.0),
        b in (1.0f64..1000.0, 1.0f64..1000.0),
    ) {
        let (parent_before, parent_after) = (a.0 + b.0, a.1 + b.1);
        prop_assume!((parent_after - parent_before).abs() > 1e-3);
        let observations = format!(
            "entity,indicator,period,value\nA,gdp,2024,{}\nB,gdp,2024,{}\nP,gdp,2024,{parent_before}\nA,gdp,2025,{}\nB,gdp,2025,{}\nP,gdp,2025,{parent_after}\n",
            a.0, b.0, a.1, b.1
        );
        let metrics = compute(ENTITIES, INDICATORS, &observations, "2025");
        let series = &metrics.series;
        let growth = value(series, "P", "2025", "yoy_pct").unwrap();
        let pulls = value(series, "A", "2025", "pull_pp").unwrap() + value(series, "B", "2025", "pull_pp").unwrap();
        prop_assert!((pulls - growth).abs() < 1e-6 * growth.abs().max(1.0), "pulls {pulls} vs growth {growth}");
        let contributions = value(series, "A", "2025", "contribution_pct").unwrap() + value(series, "B", "2025", "contribution_pct").unwrap();
        prop_assert!((contributions - 100.0).abs() < 1e-6 * contributions.abs().max(100.0), "contributions {contributions}");
    }

    #[test]
    fn a_target_already_met_is_achieved_whatever_the_trend(base in 1.0f64..100.0, target in 1.0f64..100.0, beyond in 0.0f64..50.0) {
        // The latest value meets the target, whether it rose or fell from the base to get there.
        let targets = format!("entity,indicator,comparator,target,deadline,kind,base_period\nA,gdp,>=,{target},2030,level,2020\nB,gdp,<=,{target},2030,level,2020\n");
        let observations = format!(
            "entity,indicator,period,value\nA,gdp,2020,{base}\nA,gdp,2025,{}\nB,gdp,2020,{base}\nB,gdp,2025,{}\n",
            target + beyond,
            (target - beyond).max(0.0)
        );
        let assessed = assess(&targets, &observations, "2025", &transform::Settings::eurostat());
        for row in 0..2 {
            prop_assert_eq!(target_cell(&assessed, row, "achieved"), "true");
            prop_assert_eq!(target_cell(&assessed, row, "status"), "achieved");
            prop_assert!(target_number(&assessed, row, "gap") <= 1e-9);
        }
    }

    #[test]
    fn reversing_the_direction_flips_the_sign_of_the_gap(base in 1.0f64..100.0, latest in 1.0f64..100.0, target in 1.0f64..100.0) {
        let targets = format!("entity,indicator,comparator,target,deadline,kind,base_period\nA,gdp,>=,{target},2030,level,2020\nB,gdp,<=,{target},2030,level,2020\n");
        let observations = format!("entity,indicator,period,value\nA,gdp,2020,{base}\nA,gdp,2025,{latest}\nB,gdp,2020,{base}\nB,gdp,2025,{latest}\n");
        let assessed = assess(&targets, &observations, "2025", &transform::Settings::eurostat());
        let (up, down) = (target_number(&assessed, 0, "gap"), target_number(&assessed, 1, "gap"));
        prop_assert!((up + down).abs() < 1e-9, "gap {up} for >= and {down} for <=");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The report writes numbers from whole units of their last decimal; the text must be the
    /// float formatter's for the value rounded half away from zero (四舍五入), as it always was.
    #[test]
    fn report_numbers_are_the_rounded_value_at_the_indicators_decimals(
        value in prop_oneof![-1.0e6f64..1.0e6, -10.0f64..10.0, -1.0e14f64..1.0e14, Just(0.125), Just(-0.005), Just(2.675), Just(-0.0)],
        decimals in 0u8..5,
    ) {
        let scale = 10f64.powi(i32::from(decimals));
        let rounded = (value * scale).round() / scale;
        let rounded = if rounded == 0.0 { 0.0 } else { rounded };
        let expected = format!("{rounded:.prec$}", prec = usize::from(decimals));
        prop_assert_eq!(report::format_number(Some(value), decimals), expected);
    }
}
