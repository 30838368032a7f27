//! Every word the report and the emails show, in Chinese and in English.

use serde::Serialize;

/// The words of one language.
#[derive(Debug, Clone, Serialize)]
pub struct Labels {
    pub lang: &'static str,
    pub report_name: &'static str,
    pub headline: &'static str,
    pub targets_tracked: &'static str,
    pub targets_fine: &'static str,
    pub alerts: &'static str,
    pub entities_covered: &'static str,
    pub targets_heading: &'static str,
    pub below_heading: &'static str,
    pub below_note: &'static str,
    pub targets_count: &'static str,
    pub indicators_heading: &'static str,
    pub sources_heading: &'static str,
    pub problems_heading: &'static str,
    pub no_problems: &'static str,
    pub check: &'static str,
    pub count: &'static str,
    pub no_alerts: &'static str,
    pub entity: &'static str,
    pub indicator: &'static str,
    pub target: &'static str,
    pub deadline: &'static str,
    pub base: &'static str,
    pub period: &'static str,
    pub value: &'static str,
    pub gap: &'static str,
    pub progress: &'static str,
    pub time_share: &'static str,
    pub schedule_gap: &'static str,
    pub status: &'static str,
    pub source: &'static str,
    pub yoy: &'static str,
    pub change_since_base: &'static str,
    pub avg_change: &'static str,
    pub unit: &'static str,
    pub vintage: &'static str,
    pub rows: &'static str,
    pub set_aside: &'static str,
    pub state: &'static str,
    pub level: &'static str,
    pub place: &'static str,
    pub message: &'static str,
    pub points: &'static str,
    pub per_year: &'static str,
    pub above_parent: &'static str,
    pub achieved: &'static str,
    pub achieved_approx: &'static str,
    pub on_track: &'static str,
    pub moderate: &'static str,
    pub insufficient: &'static str,
    pub moving_away: &'static str,
    pub insufficient_data: &'static str,
    pub level_error: &'static str,
    pub level_warn: &'static str,
    pub level_info: &'static str,
    pub full_report: &'static str,
    pub greeting: &'static str,
    pub your_entities: &'static str,
    pub legend: &'static str,
    pub standards_heading: &'static str,
    pub trend: &'static str,
    pub see_attachment: &'static str,
    /// Before the report's path, when it is too large to attach and no base URL links to it.
    pub too_large_to_attach: &'static str,
    pub rank: &'static str,
    pub data_problem: &'static str,
    pub standard: &'static str,
    pub conditions: &'static str,
    pub standard_met: &'static str,
    pub standard_not_met: &'static str,
}

impl Labels {
    pub fn chinese() -> Labels {
        Labels {
            lang: "zh-CN",
            report_name: "城镇发展监测月报",
            headline: "概览",
            targets_tracked: "跟踪目标",
            targets_fine: "已实现或进度正常",
            alerts: "预警",
            entities_covered: "覆盖地区",
            targets_heading: "目标进展",
            below_heading: "下级地区目标进展",
            below_note: "本报告列到上述地区为止；其下级地区的目标按状态计数如下，明细见各地区的摘要邮件。",
            targets_count: "目标数",
            indicators_heading: "指标最新值",
            sources_heading: "数据来源与版本",
            problems_heading: "数据质量附录",
            no_problems: "本期未发现数据问题。",
            check: "检查项",
            count: "个数",
            no_alerts: "本期无预警。",
            entity: "地区",
            indicator: "指标",
            target: "目标",
            deadline: "期限",
            base: "基期",
            period: "最新期",
            value: "最新值",
            gap: "差距",
            progress: "完成进度(%)",
            time_share: "序时进度(%)",
            schedule_gap: "快慢(百分点)",
            status: "状态",
            source: "出处",
            yoy: "同比",
            change_since_base: "比基期增减",
            avg_change: "年均增减",
            unit: "单位",
            vintage: "版本",
            rows: "行数",
            set_aside: "隔离行数",
            state: "状态",
            level: "级别",
            place: "位置",
            message: "说明",
            points: "个百分点",
            per_year: "年",
            above_parent: "增速高于上级",
            achieved: "已实现",
            achieved_approx: "已实现（约）",
            on_track: "进度正常",
            moderate: "需加快",
            insufficient: "进度不足",
            moving_away: "背离目标",
            insufficient_data: "数据不足",
            level_error: "错误",
            level_warn: "警告",
            level_info: "提示",
            full_report: "完整报告",
            greeting: "您好",
            your_entities: "您关注的地区",
            legend: "条形：完成进度；黑线：序时进度",
            standards_heading: "达标情况",
            trend: "趋势（红虚线：目标）",
            see_attachment: "见附件 index.html（可用浏览器打开、打印）",
            too_large_to_attach: "完整报告过大，未随邮件附上，存放于：",
            rank: "同级排名",
            data_problem: "数据问题",
            standard: "标准",
            conditions: "条件（✓ 达到，✗ 未达到，? 无数据）",
            standard_met: "达标",
            standard_not_met: "未达标",
        }
    }

    pub fn english() -> Labels {
        Labels {
            lang: "en",
            report_name: "Urban development monitor",
            headline: "Overview",
            targets_tracked: "Targets tracked",
            targets_fine: "Achieved or on track",
            alerts: "Alerts",
            entities_covered: "Regions covered",
            targets_heading: "Progress toward targets",
            below_heading: "Targets below the listed regions",
            below_note: "This report stops at the regions above; the targets of the regions under them are counted by status here, and each region's summary email lists them.",
            targets_count: "Targets",
            indicators_heading: "Latest values",
            sources_heading: "Sources and vintages",
            problems_heading: "Data-quality appendix",
            no_problems: "No data problems were found for this period.",
            check: "Check",
            count: "Count",
            no_alerts: "No alerts for this period.",
            entity: "Region",
            indicator: "Indicator",
            target: "Target",
            deadline: "Deadline",
            base: "Base",
            period: "Latest period",
            value: "Latest value",
            gap: "Gap",
            progress: "Progress (%)",
            time_share: "Time elapsed (%)",
            schedule_gap: "Ahead/behind (pp)",
            status: "Status",
            source: "Source",
            yoy: "Year on year",
            change_since_base: "Change since base",
            avg_change: "Average annual change",
            unit: "Unit",
            vintage: "Vintage",
            rows: "Rows",
            set_aside: "Rows set aside",
            state: "State",
            level: "Level",
            place: "Where",
            message: "Message",
            points: "pp",
            per_year: "yr",
            above_parent: "growth above parent",
            achieved: "Achieved",
            achieved_approx: "Achieved (approx.)",
            on_track: "On track",
            moderate: "Needs acceleration",
            insufficient: "Insufficient progress",
            moving_away: "Moving away",
            insufficient_data: "Insufficient data",
            level_error: "error",
            level_warn: "warning",
            level_info: "note",
            full_report: "Full report",
            greeting: "Hello",
            your_entities: "Regions you follow",
            legend: "Bar: progress; black line: time elapsed",
            standards_heading: "Standards",
            trend: "Trend (red dashes: target)",
            see_attachment: "attached as index.html (open it in a browser, or print it)",
            too_large_to_attach: "too large to attach; it is kept at ",
            rank: "Rank among peers",
            data_problem: "Data problem",
            standard: "Standard",
            conditions: "Conditions (✓ met, ✗ not met, ? no data)",
            standard_met: "Met",
            standard_not_met: "Not met",
        }
    }

    pub fn title(&self, period: &str) -> String {
        if self.lang == "en" { format!("{} — {period}", self.report_name) } else { format!("{period} {}", self.report_name) }
    }

    /// What the appendix says when it lists only the `listed` most severe of `total` problems.
    pub fn problems_not_all_listed(&self, listed: usize, total: usize) -> String {
        if self.lang == "en" {
            format!(
                "The {listed} most severe of {total} problems are listed below; tables.xlsx has all of them (sheet “{}”). The count of each check:",
                self.problems_heading
            )
        } else {
            format!("共 {total} 个问题，下面列出最严重的 {listed} 个；全部问题见 tables.xlsx 的“{}”工作表。各检查项的问题数：", self.problems_heading)
        }
    }

    /// The narrative lead: how many targets are fine, and which falls furthest behind.
    pub fn lead(&self, total: usize, assessed: usize, fine: usize, worst: Option<&str>) -> String {
        let mut text = if self.lang == "en" {
            format!("Of {total} targets, {assessed} have data; {fine} are achieved or on track.")
        } else {
            format!("{total} 个目标中 {assessed} 个有数据可评估，{fine} 个已实现或进度正常。")
        };
        if let Some(worst) = worst {
            if self.lang == "en" {
                text.push_str(&format!(" Furthest behind: {worst}."));
            } else {
                text.push_str(&format!("落后最多：{worst}。"));
            }
        }
        text
    }
}

/// The words for a status code.
pub fn status_label<'a>(status: &str, t: &'a Labels) -> &'a str {
    match status {
        "achieved" => t.achieved,
        "on_track" => t.on_track,
        "moderate" => t.moderate,
        "insufficient" => t.insufficient,
        "moving_away" => t.moving_away,
        _ => t.insufficient_data,
    }
}

/// The words for a problem's level (`error`, `warn`, `info`); another level is shown as it is.
pub fn level_label<'a>(level: &'a str, t: &'a Labels) -> &'a str {
    match level {
        "error" => t.level_error,
        "warn" | "warning" => t.level_warn,
        "info" => t.level_info,
        other => other,
    }
}
