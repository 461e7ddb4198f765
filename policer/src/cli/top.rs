use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use policer::{
    Policer, profile,
    top::{self, FlowRate, Sample},
    units,
};
use policer_common::{Colour, Profile};
use ratatui::{
    DefaultTerminal, Frame,
    crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers},
    layout::{Constraint, Layout},
    style::{Modifier, Style},
    text::Line,
    widgets::{Block, Paragraph, Row, Table},
};
use serde_json::json;

#[derive(Args, Debug)]
pub struct TopArgs {
    /// Interface whose flows to watch.
    iface: String,
    #[command(flatten)]
    direction: super::DirectionArg,
    /// Seconds between two refreshes (and the interval the rates are taken over).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0,
          value_parser = parse_interval)]
    interval: f64,
    /// Show only the N fastest flows (default: as many as fit; 20 with --once).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Take one sample (two reads, --interval apart), print it and exit.
    #[arg(long)]
    once: bool,
    /// With --once: one JSON object, for scripts.
    #[arg(long, requires = "once")]
    json: bool,
}

fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.1..=3600.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!("invalid interval {text:?}: expected seconds from 0.1 to 3600")),
    }
}

pub fn run(args: TopArgs) -> anyhow::Result<()> {
    let policer = Policer::open(&args.iface, args.direction.get())?;
    let interval = Duration::from_secs_f64(args.interval);
    if args.once {
        return once(&policer, &args, interval);
    }
    let mut terminal = ratatui::init();
    let result = watch(&mut terminal, &policer, &args, interval);
    ratatui::restore();
    result
}

fn once(policer: &Policer, args: &TopArgs, interval: Duration) -> anyhow::Result<()> {
    let profile = policer.profile()?;
    let before = Sample::read(policer)?;
    std::thread::sleep(interval);
    let now = Sample::read(policer)?;
    let (measured, mut rows) = top::rates(&before, &now, profile.mode);
    rows.truncate(args.top.unwrap_or(20));
    if args.json {
        let report = json!({
            "interface": policer.interface(),
            "direction": policer.direction().name(),
            "interval_s": measured.as_secs_f64(),
            "cir_bps": profile.cir_bytes_per_sec * 8,
            "flows_active": now.flows.len(),
            "flows": rows.iter().map(row_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("{}", heading(policer, &profile, now.flows.len(), measured)?);
    println!(
        "{:<52} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "flow", "rate", "tokens", "debt", "red/int", "phase"
    );
    for row in &rows {
        let [flow, rate, tokens, debt, red, phase] = cells(row);
        println!("{flow:<52} {rate:>12} {tokens:>12} {debt:>12} {red:>10} {phase:>10}");
    }
    Ok(())
}

fn row_json(row: &FlowRate) -> serde_json::Value {
    json!({
        "flow": row.describe(),
        "rate_bps": row.rate_bps.round() as u64,
        "packets": row.flow.state.packets,
        "bytes": row.flow.state.bytes,
        "tokens_bytes": row.flow.state.tokens_bytes(),
        "debt_bytes": row.flow.state.debt_bytes(),
        "red_packets": row.flow.state.red_packets,
        "red_in_interval": row.red_in_interval,
        "phase": row.phase,
    })
}

fn cells(row: &FlowRate) -> [String; 6] {
    [
        row.describe(),
        units::format_rate(row.rate_bps.round() as u64),
        row.flow.state.tokens_bytes().to_string(),
        row.flow.state.debt_bytes().to_string(),
        row.red_in_interval.to_string(),
        row.phase.unwrap_or("-").to_string(),
    ]
}

fn heading(
    policer: &Policer,
    profile: &Profile,
    flows: usize,
    interval: Duration,
) -> anyhow::Result<String> {
    Ok(format!(
        "policer on {} ({}, {}): {} flows, rates over {:.1}s; cir {} cbs {}b ebs {}b mode {} \
         red {}",
        policer.interface(),
        policer.direction().name(),
        policer.method()?,
        flows,
        interval.as_secs_f64(),
        units::format_rate(profile.cir_bytes_per_sec * 8),
        profile.cbs_bytes,
        profile.ebs_bytes,
        policer_common::mode::name(profile.mode),
        profile::action_name(profile.action_for(Colour::Red)),
    ))
}

/// Refreshes every `interval` until `q`, Esc or Ctrl-C.
fn watch(
    terminal: &mut DefaultTerminal,
    policer: &Policer,
    args: &TopArgs,
    interval: Duration,
) -> anyhow::Result<()> {
    let mut before = Sample::read(policer)?;
    let mut screen: Option<(String, Vec<FlowRate>)> = None;
    loop {
        terminal
            .draw(|frame| draw(frame, screen.as_ref(), args.top))
            .context("drawing the terminal")?;
        // Wait out the interval, answering keys meanwhile.
        let deadline = before.at + interval;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            if event::poll(left).context("reading the terminal")?
                && quits(&event::read().context("reading the terminal")?)
            {
                return Ok(());
            }
        }
        let profile = policer.profile()?;
        let now = Sample::read(policer)?;
        let (measured, rows) = top::rates(&before, &now, profile.mode);
        screen = Some((heading(policer, &profile, now.flows.len(), measured)?, rows));
        before = now;
    }
}

/// `q`, Esc or Ctrl-C.
fn quits(event: &Event) -> bool {
    let Event::Key(key) = event else { return false };
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    key.kind == KeyEventKind::Press
        && (matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c)
}

fn draw(frame: &mut Frame, screen: Option<&(String, Vec<FlowRate>)>, top: Option<usize>) {
    let [head, body, foot] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)])
            .areas(frame.area());
    let Some((heading, rows)) = screen else {
        frame.render_widget(Paragraph::new("policer top: first sample..."), head);
        return;
    };
    frame.render_widget(Paragraph::new(heading.as_str()), head);
    let fit = body.height.saturating_sub(3) as usize;
    let shown = rows.iter().take(top.unwrap_or(fit).min(fit.max(1)));
    let table = Table::new(
        shown.map(|row| Row::new(cells(row))),
        [
            Constraint::Min(30),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new(["flow", "rate", "tokens", "debt", "red/int", "phase"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::bordered().title(" fastest flows over the last interval "));
    frame.render_widget(table, body);
    frame.render_widget(Line::from("q: quit"), foot);
}
