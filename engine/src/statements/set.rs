//! `SET key = value`: tarn's settings (`tarn.*`, see [`crate::context::Settings`]) and DataFusion's.

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Statement;
use crate::context::{Ctx, DATAFUSION_MEMORY_LIMIT, MAX_SCAN_SETTING, MEMORY_LIMIT_SETTING, TEXT_STRICT_SETTING};
use crate::error::{EngineError, Part, Result};
use crate::meter::parse_size;
use crate::parse::TarnParser;
use crate::result::Outcome;

pub(crate) struct Set {
    pub(crate) key: String,
    pub(crate) value: String,
}

impl Statement for Set {
    const READ_ONLY: bool = true;
    const STARTS: &'static [&'static [&'static str]] = &[&["SET"]];

    fn parse(d: &mut TarnParser) -> Result<Self> {
        d.expect("SET")?;
        let key =
            d.p.parse_object_name(false)?
                .0
                .iter()
                .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
                .collect::<Vec<_>>()
                .join(".");
        if !d.consume(Token::Eq) {
            d.expect("TO")?;
        }
        let value = d.string_or_word()?;
        d.end()?;
        Ok(Self { key, value })
    }

    async fn execute(self, ctx: &mut Ctx) -> Result<Outcome> {
        set(ctx, &self.key, &self.value).map(Outcome::message)
    }
}

impl Set {
    /// Whether this sets where queries run (`tarn.workers`: any machine the user names would be sent plans and the
    /// warehouse's credentials would read for it) or how much memory they may take: settings that change nothing
    /// stored, but that a server keeps from read-only users.
    pub(crate) fn placement(&self) -> bool {
        let key = self.key.to_ascii_lowercase();
        [
            crate::cluster::WORKERS_SETTING,
            MEMORY_LIMIT_SETTING,
            DATAFUSION_MEMORY_LIMIT,
        ]
        .contains(&key.as_str())
    }
}

fn set(ctx: &mut Ctx, key: &str, value: &str) -> Result<String> {
    let lower = key.to_ascii_lowercase();
    if lower == MAX_SCAN_SETTING {
        if matches!(value.trim().to_ascii_lowercase().as_str(), "off" | "none" | "unlimited") {
            ctx.settings.max_scan = None;
            return Ok("scan limit removed".into());
        }
        let limit = parse_size(value).map_err(|m| EngineError::invalid(Part::Setting, m))?;
        ctx.settings.max_scan = Some(limit);
        return Ok(format!("scan limit set to {}", crate::units::format_bytes(limit)));
    }
    let flag = || match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" => Ok(true),
        "false" | "off" => Ok(false),
        other => Err(EngineError::invalid(
            Part::Setting,
            format!("{key} is true or false, not '{other}'"),
        )),
    };
    if lower == crate::delta::RETENTION_CHECK_SETTING {
        ctx.settings.delta_retention_check = flag()?;
        return Ok(format!("{lower} = {}", ctx.settings.delta_retention_check));
    }
    if lower == crate::compaction::GRACE_SETTING {
        let grace = crate::units::parse_duration(value).map_err(|m| EngineError::invalid(Part::Setting, m))?;
        ctx.settings.optimize_grace = grace;
        return Ok(format!("{lower} = {}", crate::compaction::format_grace(grace)));
    }
    if lower == TEXT_STRICT_SETTING {
        ctx.settings.text_strict = flag()?;
        return Ok(format!("{lower} = {}", ctx.settings.text_strict));
    }
    if lower == MEMORY_LIMIT_SETTING || lower == DATAFUSION_MEMORY_LIMIT {
        let limit = parse_size(value).map_err(|m| EngineError::invalid(Part::Setting, m))?;
        let limit =
            usize::try_from(limit).map_err(|_| EngineError::invalid(Part::Setting, format!("{value} is too large")))?;
        ctx.set_memory_limit(limit)?;
        return Ok(format!(
            "memory limit set to {}",
            crate::units::format_bytes(limit as u64)
        ));
    }
    if lower == crate::cluster::WORKERS_SETTING {
        let workers = crate::cluster::parse_workers(value)?;
        let message = match workers.len() {
            0 => "no workers: queries run in this process".to_string(),
            n => format!(
                "queries run on {n} worker{}: {}",
                if n == 1 { "" } else { "s" },
                workers
                    .iter()
                    .map(|w| w.as_str().trim_end_matches('/'))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let builder = SessionStateBuilder::new_from_existing(ctx.state.clone());
        ctx.state = crate::planner::plan_for(builder, &workers).build();
        ctx.settings.workers = workers;
        return Ok(message);
    }
    if lower.starts_with("tarn.") {
        return Err(EngineError::invalid(
            Part::Setting,
            format!(
                "unknown setting '{key}'; tarn's settings: {MAX_SCAN_SETTING}, {MEMORY_LIMIT_SETTING}, \
             {TEXT_STRICT_SETTING}, {}, {}, {}",
                crate::delta::RETENTION_CHECK_SETTING,
                crate::compaction::GRACE_SETTING,
                crate::cluster::WORKERS_SETTING
            ),
        ));
    }
    ctx.state
        .config_mut()
        .options_mut()
        .set(key, value)
        .map_err(|e| EngineError::invalid(Part::Setting, e.strip_backtrace()))?;
    Ok(format!("{key} = {value}"))
}
