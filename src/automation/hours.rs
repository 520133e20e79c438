//! Business hours: weekly ranges in one time zone, minus holidays. `chrono-tz` carries the zone
//! rules inside the binary, so the container image needs no tzdata.

use super::config::{HoursConfig, WEEKDAYS};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone)]
pub struct BusinessHours {
    pub zone: Tz,
    /// Per weekday (Monday first), the open ranges as minutes since midnight.
    week: [Vec<(u32, u32)>; 7],
    holidays: Vec<NaiveDate>,
}

/// How far ahead the next opening is looked for (a long holiday season).
const LOOKAHEAD_DAYS: i64 = 60;

impl BusinessHours {
    pub fn parse(config: &HoursConfig) -> Result<Self, String> {
        let zone: Tz = config
            .timezone
            .parse()
            .map_err(|_| format!("timezone {:?} is not an IANA zone", config.timezone))?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, ranges) in &config.weekly {
            let index = WEEKDAYS
                .iter()
                .position(|d| d == day)
                .ok_or_else(|| format!("weekly.{day}: not one of {}", WEEKDAYS.join(", ")))?;
            for range in ranges.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                let (from, to) = range
                    .split_once('-')
                    .ok_or_else(|| format!("weekly.{day}: {range:?} is not like 09:00-18:00"))?;
                let minutes = |t: &str| {
                    let t = t.trim();
                    if t == "24:00" {
                        return Ok(24 * 60);
                    }
                    NaiveTime::parse_from_str(t, "%H:%M")
                        .map(|t| t.hour_minutes())
                        .map_err(|_| format!("weekly.{day}: {t:?} is not a time like 09:00"))
                };
                let (from, to) = (minutes(from)?, minutes(to)?);
                if from >= to {
                    return Err(format!("weekly.{day}: {range:?} ends before it starts"));
                }
                week[index].push((from, to));
            }
            week[index].sort_unstable();
        }
        if week.iter().all(Vec::is_empty) {
            return Err("weekly: no open hours on any day".into());
        }
        let holidays = config
            .holidays
            .iter()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| format!("holidays: {d:?} is not a date like 2026-12-25"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            zone,
            week,
            holidays,
        })
    }

    fn ranges(&self, date: NaiveDate) -> &[(u32, u32)] {
        if self.holidays.contains(&date) {
            return &[];
        }
        &self.week[date.weekday().num_days_from_monday() as usize]
    }

    /// When the current open period ends, if the team is there at `at`.
    pub fn open_until(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.zone);
        let minute = local.time().hour_minutes();
        let (_, to) = self
            .ranges(local.date_naive())
            .iter()
            .find(|(from, to)| (*from..*to).contains(&minute))?;
        self.instant(local.date_naive(), *to)
    }

    /// The next time the team is there, at or after `at` (`at` itself when open now).
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.open_until(at).is_some() {
            return Some(at);
        }
        let local = at.with_timezone(&self.zone);
        let minute = local.time().hour_minutes();
        for offset in 0..=LOOKAHEAD_DAYS {
            let date = local.date_naive() + chrono::Duration::days(offset);
            for (from, _) in self.ranges(date) {
                if offset > 0 || *from > minute {
                    return self.instant(date, *from);
                }
            }
        }
        None
    }

    /// `minutes` after midnight of `date` in the zone (the next valid instant across a DST gap).
    fn instant(&self, date: NaiveDate, minutes: u32) -> Option<DateTime<Utc>> {
        let naive = date.and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(i64::from(minutes));
        let mut probe = naive;
        for _ in 0..4 {
            if let Some(t) = self.zone.from_local_datetime(&probe).earliest() {
                return Some(t.with_timezone(&Utc));
            }
            probe += chrono::Duration::minutes(30);
        }
        None
    }

    /// The instant `span` of open time after `at` (an SLA counted in business hours);
    /// `None` when the hours do not open again within the lookahead.
    pub fn add_open_time(
        &self,
        at: DateTime<Utc>,
        span: chrono::Duration,
    ) -> Option<DateTime<Utc>> {
        let mut remaining = span;
        let mut t = at;
        // Each pass uses up one open period; a year of two periods a day is plenty.
        for _ in 0..800 {
            let start = self.next_open(t)?;
            let end = self.open_until(start)?;
            let open = end - start;
            if open >= remaining {
                return Some(start + remaining);
            }
            remaining -= open;
            t = end;
        }
        None
    }

    /// `at` as the customer is told it: local date and time with the zone's name.
    pub fn describe(&self, at: DateTime<Utc>) -> String {
        let local = at.with_timezone(&self.zone);
        format!("{} ({})", local.format("%Y-%m-%d %H:%M"), self.zone.name())
    }
}

trait HourMinutes {
    fn hour_minutes(&self) -> u32;
}

impl HourMinutes for NaiveTime {
    fn hour_minutes(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> BusinessHours {
        let config = HoursConfig {
            timezone: "Asia/Singapore".into(),
            weekly: [
                ("mon", "09:00-18:00"),
                ("tue", "09:00-12:00, 13:00-18:00"),
                ("wed", "09:00-18:00"),
                ("thu", "09:00-18:00"),
                ("fri", "09:00-17:00"),
            ]
            .into_iter()
            .map(|(d, r)| (d.to_owned(), r.to_owned()))
            .collect(),
            holidays: vec!["2026-12-25".into()],
        };
        BusinessHours::parse(&config).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn open_closed_lunch_weekend_and_holiday() {
        let h = hours();
        // Singapore is UTC+8. Tuesday 2026-12-01 10:00 local = 02:00 UTC.
        assert_eq!(
            h.open_until(utc("2026-12-01T02:00:00Z")),
            Some(utc("2026-12-01T04:00:00Z"))
        );
        // Lunch on Tuesday: back at 13:00 local.
        assert_eq!(h.open_until(utc("2026-12-01T04:30:00Z")), None);
        assert_eq!(
            h.next_open(utc("2026-12-01T04:30:00Z")),
            Some(utc("2026-12-01T05:00:00Z"))
        );
        // Friday 2026-12-04 after 17:00 local: back Monday 09:00 local.
        assert_eq!(
            h.next_open(utc("2026-12-04T09:30:00Z")),
            Some(utc("2026-12-07T01:00:00Z"))
        );
        // Christmas is a Friday: closed all day, back Monday 28th.
        assert_eq!(h.open_until(utc("2026-12-25T03:00:00Z")), None);
        assert_eq!(
            h.next_open(utc("2026-12-25T03:00:00Z")),
            Some(utc("2026-12-28T01:00:00Z"))
        );
        assert_eq!(
            h.describe(utc("2026-12-28T01:00:00Z")),
            "2026-12-28 09:00 (Asia/Singapore)"
        );
    }

    #[test]
    fn open_time_is_added_across_lunch_nights_weekends_and_holidays() {
        let h = hours();
        let hours = |n: i64| chrono::Duration::minutes(n * 60);
        // Tuesday 11:00 local + 2h open time: 12:00-13:00 is lunch, so 14:00 local.
        assert_eq!(
            h.add_open_time(utc("2026-12-01T03:00:00Z"), hours(2)),
            Some(utc("2026-12-01T06:00:00Z"))
        );
        // Friday 16:00 local + 3h: 1h on Friday (closes 17:00), 2h on Monday → 11:00.
        assert_eq!(
            h.add_open_time(utc("2026-12-04T08:00:00Z"), hours(3)),
            Some(utc("2026-12-07T03:00:00Z"))
        );
        // Saturday night + 30 min: Monday 09:30.
        assert_eq!(
            h.add_open_time(utc("2026-12-05T14:00:00Z"), chrono::Duration::minutes(30)),
            Some(utc("2026-12-07T01:30:00Z"))
        );
        // Thursday 24th 17:00 local + 2h: 1h that day, Christmas closed, weekend, Monday 10:00.
        assert_eq!(
            h.add_open_time(utc("2026-12-24T09:00:00Z"), hours(2)),
            Some(utc("2026-12-28T02:00:00Z"))
        );
    }

    #[test]
    fn bad_hours_are_refused_with_the_key() {
        let mut config = HoursConfig {
            timezone: "Mars/Olympus".into(),
            weekly: Default::default(),
            holidays: vec![],
        };
        assert!(
            BusinessHours::parse(&config)
                .unwrap_err()
                .contains("timezone")
        );
        config.timezone = "UTC".into();
        config.weekly.insert("mon".into(), "18:00-09:00".into());
        assert!(
            BusinessHours::parse(&config)
                .unwrap_err()
                .contains("weekly.mon")
        );
        config.weekly.insert("mon".into(), "09:00-18:00".into());
        config.weekly.insert("funday".into(), "09:00-18:00".into());
        assert!(
            BusinessHours::parse(&config)
                .unwrap_err()
                .contains("funday")
        );
    }
}
