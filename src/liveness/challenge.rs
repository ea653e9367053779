//! The active challenge: a short random sequence of head moves and a blink, derived from a
//! server-issued seed, and the check that a pose track performs it in order and in time.
//!
//! The device and the backend derive the same steps from the same seed
//! ([`challenge_from_seed`]); the backend keeps the seed it issued and re-runs
//! [`verify_challenge_for_seed`] on the uploaded track, so a track recorded for another seed
//! fails (its moves come in another order) and the result names the seed it was judged
//! against (`seed_tag`).
//!
//! Directions follow `vision::mesh::HeadPose` on the unmirrored frame: the subject turning to
//! *their own* left points the nose to the image's right, i.e. yaw > 0; looking up is
//! pitch > 0. Angles are measured relative to the track's own neutral pose (the median of its
//! first `baseline_ms`), so a camera held below the face (a constant pitch offset) does not
//! count as "looking up".

use crate::error::{Error, ErrorCode, Result};
use crate::liveness::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// One challenge step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Turn the head to the subject's own left (yaw > 0) and back.
    TurnLeft,
    /// Turn to the subject's own right (yaw < 0) and back.
    TurnRight,
    /// Look up (pitch > 0) and back.
    LookUp,
    /// Look down (pitch < 0) and back.
    LookDown,
    /// Close and reopen the eyes once.
    Blink,
}

impl Step {
    /// Stable code, also the key the page uses for the instruction text.
    pub fn code(self) -> &'static str {
        match self {
            Step::TurnLeft => "turn_left",
            Step::TurnRight => "turn_right",
            Step::LookUp => "look_up",
            Step::LookDown => "look_down",
            Step::Blink => "blink",
        }
    }

    fn is_turn(self) -> bool {
        matches!(self, Step::TurnLeft | Step::TurnRight)
    }
}

/// Which challenges a project issues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChallengeConfig {
    /// Number of steps (1..=5; 3 by default).
    pub len: usize,
    /// The steps to draw from (at least two distinct ones when `len` > 1).
    pub pool: Vec<Step>,
    /// Every challenge contains at least one head turn, so the track always carries the
    /// 3-D (planarity) evidence.
    pub require_turn: bool,
}

impl Default for ChallengeConfig {
    fn default() -> Self {
        ChallengeConfig {
            len: 3,
            pool: vec![Step::TurnLeft, Step::TurnRight, Step::LookUp, Step::Blink],
            require_turn: true,
        }
    }
}

/// Minimum seed length in bytes (the server should send 32 random bytes).
pub const MIN_SEED_BYTES: usize = 16;

/// The steps of the challenge for `seed`: `cfg.len` steps from `cfg.pool`, never the same
/// step twice in a row, at least one turn when `cfg.require_turn`. Deterministic in the seed
/// (SplitMix64 over all its bytes); without the seed the order cannot be predicted.
pub fn challenge_from_seed(seed: &[u8], cfg: &ChallengeConfig) -> Result<Vec<Step>> {
    let bad = |m: &str| Error::new(ErrorCode::BadInput, format!("challenge: {m}"));
    if seed.len() < MIN_SEED_BYTES {
        return Err(bad("the seed is shorter than 16 bytes"));
    }
    let mut pool = cfg.pool.clone();
    pool.dedup();
    let mut distinct = cfg.pool.clone();
    distinct.sort_by_key(|s| s.code());
    distinct.dedup();
    if !(1..=5).contains(&cfg.len) || distinct.is_empty() || (cfg.len > 1 && distinct.len() < 2) {
        return Err(bad(
            "the length must be 1..=5 and the pool hold two distinct steps",
        ));
    }
    if cfg.require_turn && !distinct.iter().any(|s| s.is_turn()) {
        return Err(bad("a turn is required but the pool has none"));
    }
    let mut rng = SplitMix64::from_bytes(seed);
    // Rejection sampling over whole sequences keeps every valid sequence equally likely.
    // (Each attempt succeeds with probability ≥ 1/5·…; the bound only makes termination
    // obvious: after it, the first step is replaced by a turn unlike the second.)
    let mut steps: Vec<Step> = Vec::with_capacity(cfg.len);
    for _ in 0..1024 {
        steps.clear();
        for _ in 0..cfg.len {
            let choices: Vec<Step> = distinct
                .iter()
                .copied()
                .filter(|s| steps.last() != Some(s))
                .collect();
            steps.push(choices[rng.below(choices.len() as u64) as usize]);
        }
        if !cfg.require_turn || steps.iter().any(|s| s.is_turn()) {
            return Ok(steps);
        }
    }
    let turns: Vec<Step> = distinct
        .iter()
        .copied()
        .filter(|s| s.is_turn() && steps.get(1) != Some(s))
        .collect();
    steps[0] = turns[rng.below(turns.len() as u64) as usize];
    Ok(steps)
}

/// A short, non-secret tag naming a seed in results and logs (16 hex digits; the seed itself
/// is not recoverable from it in practice, but it is no cryptographic commitment).
pub fn seed_tag(seed: &[u8]) -> String {
    let mut bytes = b"liveform/challenge-seed-tag/v1".to_vec();
    bytes.extend_from_slice(seed);
    format!("{:016x}", SplitMix64::from_bytes(&bytes).next_u64())
}

/// One pose sample of the challenge track (from the face mesh of one frame).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoseSample {
    /// Capture time in milliseconds (any origin; strictly increasing).
    pub t_ms: f64,
    /// Degrees, as `vision::mesh::HeadPose`.
    pub yaw: f32,
    pub pitch: f32,
    /// The smaller of the two eyes' openness (`FaceMesh::eye_openness`): ≈ 0.25–0.35 open,
    /// < 0.1 closed.
    pub eye_openness_min: f32,
}

/// Limits of the challenge check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChallengeLimits {
    /// Each step must be completed within this many ms of the previous one (or of the start).
    pub step_timeout_ms: f64,
    /// A step completed faster than this is not a human response.
    pub min_step_ms: f64,
    /// The neutral pose is the median of the samples in the first `baseline_ms`.
    pub baseline_ms: f64,
    /// The neutral pose itself must be within this many degrees of frontal.
    pub max_baseline_deg: f32,
    /// A turn must reach this yaw (degrees from neutral) …
    pub turn_deg: f32,
    /// … a look up/down this pitch …
    pub look_deg: f32,
    /// … and then come back within this many degrees of neutral (yaw and pitch).
    pub centre_deg: f32,
    /// A blink: openness from ≥ `blink_open` to < `blink_closed` and back to ≥ `blink_open`
    /// within `blink_max_ms` (first closed sample to first reopened sample).
    pub blink_open: f32,
    pub blink_closed: f32,
    pub blink_max_ms: f64,
    /// Largest gap between samples (a longer gap could hide a cut). 1 s: wasm on a slow
    /// phone (or a busy 2-core test machine) analyses only a few frames per second, and the
    /// end-to-end test showed 0.5 s failing honest tracks; a blink step needs ≥ 5 analysed
    /// frames per second to be seen at all, whatever this limit.
    pub max_gap_ms: f64,
    /// Extra time allowed on top of `len × step_timeout_ms + baseline_ms` for the whole track.
    pub slack_ms: f64,
    /// The server's own clock span from issuing the seed to receiving the upload, when known:
    /// a track cannot be longer than that.
    pub server_window_ms: Option<f64>,
}

impl ChallengeLimits {
    /// Every limit finite and ≥ 0, `blink_closed` < `blink_open`, `centre_deg` below the
    /// move thresholds.
    pub fn is_valid(&self) -> bool {
        let all = [
            self.step_timeout_ms,
            self.min_step_ms,
            self.baseline_ms,
            self.max_baseline_deg as f64,
            self.turn_deg as f64,
            self.look_deg as f64,
            self.centre_deg as f64,
            self.blink_open as f64,
            self.blink_closed as f64,
            self.blink_max_ms,
            self.max_gap_ms,
            self.slack_ms,
            self.server_window_ms.unwrap_or(0.0),
        ];
        all.iter().all(|v| v.is_finite() && *v >= 0.0)
            && self.blink_closed < self.blink_open
            && self.centre_deg < self.turn_deg.min(self.look_deg)
    }
}

impl Default for ChallengeLimits {
    fn default() -> Self {
        ChallengeLimits {
            step_timeout_ms: 5000.0,
            min_step_ms: 250.0,
            baseline_ms: 300.0,
            max_baseline_deg: 20.0,
            turn_deg: 15.0,
            look_deg: 12.0,
            centre_deg: 8.0,
            blink_open: 0.2,
            blink_closed: 0.12,
            blink_max_ms: 600.0,
            max_gap_ms: 1000.0,
            slack_ms: 2000.0,
            server_window_ms: None,
        }
    }
}

/// Why a challenge failed. The snake_case names are stable codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeFailure {
    /// The limits are not finite non-negative numbers (a server configuration error).
    BadLimits,
    /// The challenge has no steps.
    NoSteps,
    /// The track is empty.
    NoSamples,
    /// A sample has a non-finite value.
    BadSample,
    /// Timestamps do not strictly increase.
    TimestampsNotMonotonic,
    /// Two samples are further apart than `max_gap_ms`.
    SamplingGap,
    /// The track is longer than the challenge allows (or than the server's window), or
    /// shorter than its steps can take.
    ImplausibleDuration,
    /// The neutral pose at the start is not roughly frontal.
    NotCentredAtStart,
    /// A move of another step came before the expected one.
    WrongOrder,
    /// A step took longer than `step_timeout_ms`.
    TooSlow,
    /// A step completed faster than `min_step_ms`.
    ImplausiblyFast,
    /// The track ended before every step was done.
    StepMissing,
}

impl ChallengeFailure {
    pub fn code(self) -> &'static str {
        match self {
            ChallengeFailure::BadLimits => "bad_limits",
            ChallengeFailure::NoSteps => "no_steps",
            ChallengeFailure::NoSamples => "no_samples",
            ChallengeFailure::BadSample => "bad_sample",
            ChallengeFailure::TimestampsNotMonotonic => "timestamps_not_monotonic",
            ChallengeFailure::SamplingGap => "sampling_gap",
            ChallengeFailure::ImplausibleDuration => "implausible_duration",
            ChallengeFailure::NotCentredAtStart => "not_centred_at_start",
            ChallengeFailure::WrongOrder => "wrong_order",
            ChallengeFailure::TooSlow => "too_slow",
            ChallengeFailure::ImplausiblyFast => "implausibly_fast",
            ChallengeFailure::StepMissing => "step_missing",
        }
    }
}

/// When a step was done.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    pub step: Step,
    /// When the step's clock started (the previous step's completion, or the first sample).
    pub started_ms: f64,
    pub done_ms: f64,
    /// The largest excursion reached: degrees from neutral for moves, the lowest openness
    /// for a blink.
    pub peak: f32,
}

/// The outcome of the challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChallengeResult {
    pub passed: bool,
    pub reason: Option<ChallengeFailure>,
    /// Index of the step that failed (for step-level reasons).
    pub failed_step: Option<usize>,
    /// The steps judged against.
    pub steps: Vec<Step>,
    /// The steps done, in order.
    pub completed: Vec<StepTiming>,
    /// [`seed_tag`] of the seed the steps came from, when verified for a seed.
    pub seed_tag: Option<String>,
    /// Track span, ms.
    pub duration_ms: f64,
    /// The neutral pose (degrees).
    pub baseline_yaw: f32,
    pub baseline_pitch: f32,
}

impl ChallengeResult {
    /// 100 when passed, else 0.
    pub fn score(&self) -> f32 {
        if self.passed {
            100.0
        } else {
            0.0
        }
    }
}

/// Derives the steps from `seed` and verifies `track` against them; the result carries the
/// seed's tag. The backend calls this with the seed it issued for the session.
pub fn verify_challenge_for_seed(
    seed: &[u8],
    cfg: &ChallengeConfig,
    track: &[PoseSample],
    limits: &ChallengeLimits,
) -> Result<ChallengeResult> {
    let steps = challenge_from_seed(seed, cfg)?;
    let mut r = verify_challenge(&steps, track, limits);
    r.seed_tag = Some(seed_tag(seed));
    Ok(r)
}

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Left,
    Right,
    Up,
    Down,
}

fn dir_of(step: Step) -> Option<Dir> {
    match step {
        Step::TurnLeft => Some(Dir::Left),
        Step::TurnRight => Some(Dir::Right),
        Step::LookUp => Some(Dir::Up),
        Step::LookDown => Some(Dir::Down),
        Step::Blink => None,
    }
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Checks that `track` performs `steps` in order, each within the time limit.
pub fn verify_challenge(
    steps: &[Step],
    track: &[PoseSample],
    limits: &ChallengeLimits,
) -> ChallengeResult {
    let mut res = ChallengeResult {
        passed: false,
        reason: None,
        failed_step: None,
        steps: steps.to_vec(),
        completed: Vec::new(),
        seed_tag: None,
        duration_ms: 0.0,
        baseline_yaw: 0.0,
        baseline_pitch: 0.0,
    };
    let fail = |mut r: ChallengeResult, why: ChallengeFailure, step: Option<usize>| {
        r.reason = Some(why);
        r.failed_step = step;
        r
    };
    if !limits.is_valid() {
        return fail(res, ChallengeFailure::BadLimits, None);
    }
    if steps.is_empty() {
        return fail(res, ChallengeFailure::NoSteps, None);
    }
    let (Some(first), Some(last)) = (track.first(), track.last()) else {
        return fail(res, ChallengeFailure::NoSamples, None);
    };
    if track.iter().any(|s| {
        !s.t_ms.is_finite()
            || !s.yaw.is_finite()
            || !s.pitch.is_finite()
            || !s.eye_openness_min.is_finite()
    }) {
        return fail(res, ChallengeFailure::BadSample, None);
    }
    if track.windows(2).any(|w| w[1].t_ms <= w[0].t_ms) {
        return fail(res, ChallengeFailure::TimestampsNotMonotonic, None);
    }
    if track
        .windows(2)
        .any(|w| w[1].t_ms - w[0].t_ms > limits.max_gap_ms)
    {
        return fail(res, ChallengeFailure::SamplingGap, None);
    }
    let t0 = first.t_ms;
    res.duration_ms = last.t_ms - t0;
    // Longer than the server's own clock allows: a replayed or stitched track, whatever it
    // shows. (The overall bounds are checked after the steps, whose reasons say more.)
    // Both numbers are finite here.
    if limits.server_window_ms.is_some_and(|w| res.duration_ms > w) {
        return fail(res, ChallengeFailure::ImplausibleDuration, None);
    }
    let max_total =
        steps.len() as f64 * limits.step_timeout_ms + limits.baseline_ms + limits.slack_ms;
    let min_total = steps.len() as f64 * limits.min_step_ms;

    let base: Vec<&PoseSample> = track
        .iter()
        .filter(|s| s.t_ms - t0 <= limits.baseline_ms)
        .collect();
    res.baseline_yaw = median(base.iter().map(|s| s.yaw).collect());
    res.baseline_pitch = median(base.iter().map(|s| s.pitch).collect());
    if res.baseline_yaw.abs() > limits.max_baseline_deg
        || res.baseline_pitch.abs() > limits.max_baseline_deg
    {
        return fail(res, ChallengeFailure::NotCentredAtStart, None);
    }
    let (by, bp) = (res.baseline_yaw, res.baseline_pitch);
    let moves = |s: &PoseSample| {
        let (y, p) = (s.yaw - by, s.pitch - bp);
        let mut d = Vec::with_capacity(2);
        if y >= limits.turn_deg {
            d.push(Dir::Left);
        }
        if y <= -limits.turn_deg {
            d.push(Dir::Right);
        }
        if p >= limits.look_deg {
            d.push(Dir::Up);
        }
        if p <= -limits.look_deg {
            d.push(Dir::Down);
        }
        d
    };
    let centred = |s: &PoseSample| {
        (s.yaw - by).abs() <= limits.centre_deg && (s.pitch - bp).abs() <= limits.centre_deg
    };
    let excursion = |s: &PoseSample, d: Dir| match d {
        Dir::Left => s.yaw - by,
        Dir::Right => by - s.yaw,
        Dir::Up => s.pitch - bp,
        Dir::Down => bp - s.pitch,
    };

    let mut k = 0; // current step
    let mut started = t0;
    let mut phase = 0u8;
    let mut closed_at = 0.0;
    let mut peak = 0.0f32;
    for s in track {
        if k == steps.len() {
            break;
        }
        let step = steps[k];
        let target = dir_of(step);
        // A move of another direction before this step is done: wrong order.
        if moves(s).iter().any(|d| Some(*d) != target) {
            return fail(res, ChallengeFailure::WrongOrder, Some(k));
        }
        let done = match target {
            Some(d) => {
                match phase {
                    0 if centred(s) => phase = 1,
                    1 if excursion(s, d)
                        >= if matches!(d, Dir::Left | Dir::Right) {
                            limits.turn_deg
                        } else {
                            limits.look_deg
                        } =>
                    {
                        phase = 2
                    }
                    _ => {}
                }
                if phase == 2 {
                    peak = peak.max(excursion(s, d));
                }
                phase == 2 && centred(s)
            }
            None => {
                let o = s.eye_openness_min;
                let mut done = false;
                match phase {
                    0 if o >= limits.blink_open => phase = 1,
                    1 if o < limits.blink_closed => {
                        phase = 2;
                        closed_at = s.t_ms;
                        peak = o;
                    }
                    2 => {
                        peak = peak.min(o);
                        if o >= limits.blink_open {
                            if s.t_ms - closed_at <= limits.blink_max_ms {
                                done = true;
                            } else {
                                // Eyes closed too long: not a blink; wait for another.
                                phase = 1;
                            }
                        }
                    }
                    _ => {}
                }
                done
            }
        };
        if s.t_ms - started > limits.step_timeout_ms {
            return fail(res, ChallengeFailure::TooSlow, Some(k));
        }
        if done {
            if s.t_ms - started < limits.min_step_ms {
                return fail(res, ChallengeFailure::ImplausiblyFast, Some(k));
            }
            res.completed.push(StepTiming {
                step,
                started_ms: started,
                done_ms: s.t_ms,
                peak,
            });
            k += 1;
            started = s.t_ms;
            phase = 0;
            peak = 0.0;
        }
    }
    if k < steps.len() {
        // Ran out of samples: too slow if the step's time was up anyway, else missing.
        let why = if last.t_ms - started > limits.step_timeout_ms {
            ChallengeFailure::TooSlow
        } else {
            ChallengeFailure::StepMissing
        };
        return fail(res, why, Some(k));
    }
    if res.duration_ms > max_total || res.duration_ms < min_total {
        return fail(res, ChallengeFailure::ImplausibleDuration, None);
    }
    res.passed = true;
    res
}

#[cfg(test)]
pub(crate) mod synth {
    //! Synthetic pose tracks that perform a sequence of steps.
    use super::*;

    pub struct TrackOpts {
        pub fps: f64,
        /// Duration of each step's movement, ms.
        pub step_ms: f64,
        /// Pause between steps, ms.
        pub pause_ms: f64,
        pub amplitude_deg: f32,
        pub baseline: (f32, f32),
        pub noise_deg: f32,
        pub seed: u64,
        /// Natural blinks (150 ms) at these times.
        pub natural_blinks_ms: Vec<f64>,
    }

    impl Default for TrackOpts {
        fn default() -> Self {
            TrackOpts {
                fps: 20.0,
                step_ms: 1400.0,
                pause_ms: 300.0,
                amplitude_deg: 25.0,
                baseline: (2.0, 6.0),
                noise_deg: 1.0,
                seed: 1,
                natural_blinks_ms: vec![],
            }
        }
    }

    /// A track performing `steps`: 400 ms neutral, then each step's movement (a smooth bump
    /// out and back; a 180-ms eye closure for a blink) followed by a short pause.
    pub fn perform(steps: &[Step], o: &TrackOpts) -> Vec<PoseSample> {
        let mut rng = SplitMix64::new(o.seed);
        let lead = 400.0;
        let total = lead + steps.len() as f64 * (o.step_ms + o.pause_ms) + 300.0;
        let dt = 1000.0 / o.fps;
        let mut out = Vec::new();
        let mut t = 0.0;
        while t <= total {
            let (mut yaw, mut pitch, mut eye) = (o.baseline.0, o.baseline.1, 0.3f32);
            let k = ((t - lead) / (o.step_ms + o.pause_ms)).floor();
            if t >= lead && (k as usize) < steps.len() {
                let local = t - lead - k * (o.step_ms + o.pause_ms);
                if local < o.step_ms {
                    let s = local / o.step_ms;
                    let bump = (std::f64::consts::PI * s).sin().powi(2) as f32 * o.amplitude_deg;
                    match steps[k as usize] {
                        Step::TurnLeft => yaw += bump,
                        Step::TurnRight => yaw -= bump,
                        Step::LookUp => pitch += bump * 0.7,
                        Step::LookDown => pitch -= bump * 0.7,
                        Step::Blink => {
                            if (local - o.step_ms / 2.0).abs() < 90.0 {
                                eye = 0.05;
                            }
                        }
                    }
                }
            }
            if o.natural_blinks_ms.iter().any(|b| (t - b).abs() < 75.0) {
                eye = 0.06;
            }
            out.push(PoseSample {
                t_ms: 1000.0 + t,
                yaw: yaw + o.noise_deg * rng.gaussian() as f32,
                pitch: pitch + o.noise_deg * rng.gaussian() as f32,
                eye_openness_min: eye + 0.015 * rng.gaussian() as f32,
            });
            t += dt;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::synth::*;
    use super::*;

    fn seed(n: u64) -> [u8; 32] {
        let mut r = SplitMix64::new(n);
        let mut s = [0u8; 32];
        for c in s.chunks_mut(8) {
            c.copy_from_slice(&r.next_u64().to_le_bytes());
        }
        s
    }

    fn verify(steps: &[Step], track: &[PoseSample]) -> ChallengeResult {
        verify_challenge(steps, track, &ChallengeLimits::default())
    }

    #[test]
    fn challenges_are_deterministic_well_formed_and_varied() {
        let cfg = ChallengeConfig::default();
        let mut firsts = std::collections::HashSet::new();
        let mut sequences = std::collections::HashSet::new();
        for n in 0..400 {
            let s = challenge_from_seed(&seed(n), &cfg).unwrap();
            assert_eq!(s, challenge_from_seed(&seed(n), &cfg).unwrap());
            assert_eq!(s.len(), 3);
            assert!(s.windows(2).all(|w| w[0] != w[1]), "{s:?}");
            assert!(s.iter().any(|x| x.is_turn()), "{s:?}");
            assert!(s.iter().all(|x| cfg.pool.contains(x)));
            firsts.insert(s[0]);
            sequences.insert(s);
        }
        // 4 kinds, no immediate repeat (4·3·3 = 36), at least one turn (minus up-blink-up
        // and blink-up-blink): 34 sequences; all appear.
        assert_eq!(firsts.len(), 4);
        assert_eq!(sequences.len(), 34);
        // Two-step challenges too.
        let two = ChallengeConfig {
            len: 2,
            ..ChallengeConfig::default()
        };
        assert_eq!(challenge_from_seed(&seed(1), &two).unwrap().len(), 2);
        // The whole seed matters.
        let mut a = seed(5);
        let base = (0..64u8)
            .map(|i| {
                a[31] = i;
                challenge_from_seed(&a, &cfg).unwrap()
            })
            .collect::<std::collections::HashSet<_>>();
        assert!(base.len() > 10);
    }

    #[test]
    fn bad_challenge_configs_are_errors() {
        assert!(challenge_from_seed(&[1u8; 8], &ChallengeConfig::default()).is_err());
        let one_kind = ChallengeConfig {
            pool: vec![Step::TurnLeft],
            ..ChallengeConfig::default()
        };
        assert!(challenge_from_seed(&seed(1), &one_kind).is_err());
        let no_turn = ChallengeConfig {
            pool: vec![Step::Blink, Step::LookUp],
            ..ChallengeConfig::default()
        };
        assert!(challenge_from_seed(&seed(1), &no_turn).is_err());
        let ok = ChallengeConfig {
            require_turn: false,
            ..no_turn
        };
        assert!(challenge_from_seed(&seed(1), &ok).is_ok());
        let zero = ChallengeConfig {
            len: 0,
            ..ChallengeConfig::default()
        };
        assert!(challenge_from_seed(&seed(1), &zero).is_err());
    }

    #[test]
    fn a_track_following_the_issued_sequence_passes() {
        for n in 0..20 {
            let sd = seed(n);
            let steps = challenge_from_seed(&sd, &ChallengeConfig::default()).unwrap();
            let track = perform(
                &steps,
                &TrackOpts {
                    seed: n,
                    natural_blinks_ms: vec![900.0],
                    ..Default::default()
                },
            );
            let r = verify_challenge_for_seed(
                &sd,
                &ChallengeConfig::default(),
                &track,
                &ChallengeLimits::default(),
            )
            .unwrap();
            assert!(r.passed, "{steps:?}: {r:?}");
            assert_eq!(r.reason, None);
            assert_eq!(r.completed.len(), 3);
            assert_eq!(
                r.completed.iter().map(|c| c.step).collect::<Vec<_>>(),
                steps
            );
            assert_eq!(r.seed_tag.as_deref(), Some(seed_tag(&sd).as_str()));
            assert_eq!(r.score(), 100.0);
            assert!(
                (r.baseline_pitch - 6.0).abs() < 2.0,
                "baseline from the first 300 ms"
            );
        }
    }

    #[test]
    fn wrong_order_fails() {
        let steps = [Step::TurnLeft, Step::LookUp, Step::TurnRight];
        let done = perform(
            &[Step::TurnRight, Step::LookUp, Step::TurnLeft],
            &TrackOpts::default(),
        );
        let r = verify(&steps, &done);
        assert!(!r.passed);
        assert_eq!(
            (r.reason, r.failed_step),
            (Some(ChallengeFailure::WrongOrder), Some(0))
        );
        // Second and third swapped: fails at the second.
        let done = perform(
            &[Step::TurnLeft, Step::TurnRight, Step::LookUp],
            &TrackOpts::default(),
        );
        let r = verify(&steps, &done);
        assert_eq!(
            (r.reason, r.failed_step),
            (Some(ChallengeFailure::WrongOrder), Some(1))
        );
        assert_eq!(r.completed.len(), 1);
        // A head turn when a blink is expected.
        let r = verify(
            &[Step::Blink, Step::TurnLeft],
            &perform(&[Step::TurnLeft, Step::Blink], &TrackOpts::default()),
        );
        assert_eq!(r.reason, Some(ChallengeFailure::WrongOrder));
    }

    #[test]
    fn too_slow_fails() {
        let steps = [Step::TurnLeft, Step::Blink, Step::TurnRight];
        let slow = perform(
            &steps,
            &TrackOpts {
                step_ms: 5600.0,
                ..Default::default()
            },
        );
        let r = verify(&steps, &slow);
        assert_eq!(r.reason, Some(ChallengeFailure::TooSlow), "{r:?}");
        // A long idle pause before the second step also times it out.
        let idle = perform(
            &steps,
            &TrackOpts {
                pause_ms: 4500.0,
                ..Default::default()
            },
        );
        let r = verify(&steps, &idle);
        assert_eq!(
            (r.reason, r.failed_step),
            (Some(ChallengeFailure::TooSlow), Some(1)),
            "{r:?}"
        );
        // Just within the limit passes.
        // Slow but within the limit (the turn-right clock starts at the blink, ≈ 4.4 s before
        // the head is back): passes.
        let ok = perform(
            &steps,
            &TrackOpts {
                step_ms: 3000.0,
                pause_ms: 500.0,
                ..Default::default()
            },
        );
        let r = verify(&steps, &ok);
        assert!(r.passed, "{r:?}");
        let longest = r
            .completed
            .iter()
            .map(|c| c.done_ms - c.started_ms)
            .fold(0.0, f64::max);
        assert!(longest > 4000.0 && longest <= 5000.0, "{longest}");
    }

    #[test]
    fn too_fast_and_missing_steps_fail() {
        let steps = [Step::TurnLeft, Step::TurnRight];
        let fast = perform(
            &steps,
            &TrackOpts {
                step_ms: 160.0,
                fps: 60.0,
                pause_ms: 50.0,
                ..Default::default()
            },
        );
        let r = verify(&steps, &fast);
        assert_eq!(r.reason, Some(ChallengeFailure::ImplausiblyFast), "{r:?}");
        let partial = perform(&steps[..1], &TrackOpts::default());
        let r = verify(&steps, &partial);
        assert_eq!(
            (r.reason, r.failed_step),
            (Some(ChallengeFailure::StepMissing), Some(1))
        );
        // A turn that never comes back to centre is not done.
        let mut stuck = perform(&[Step::TurnLeft], &TrackOpts::default());
        let n = stuck.len();
        for s in &mut stuck[n / 2..] {
            s.yaw = 30.0;
        }
        assert_eq!(
            verify(&[Step::TurnLeft], &stuck).reason,
            Some(ChallengeFailure::StepMissing)
        );
        // A turn that stops short of the threshold is not a turn.
        let shy = perform(
            &[Step::TurnLeft],
            &TrackOpts {
                amplitude_deg: 10.0,
                ..Default::default()
            },
        );
        assert_eq!(
            verify(&[Step::TurnLeft], &shy).reason,
            Some(ChallengeFailure::StepMissing)
        );
    }

    #[test]
    fn a_track_made_for_another_seed_fails() {
        let cfg = ChallengeConfig::default();
        let a = seed(100);
        let steps_a = challenge_from_seed(&a, &cfg).unwrap();
        let track_a = perform(&steps_a, &TrackOpts::default());
        let ok =
            verify_challenge_for_seed(&a, &cfg, &track_a, &ChallengeLimits::default()).unwrap();
        assert!(ok.passed);
        let mut others = 0;
        for n in 0..60 {
            let b = seed(1000 + n);
            let steps_b = challenge_from_seed(&b, &cfg).unwrap();
            let r =
                verify_challenge_for_seed(&b, &cfg, &track_a, &ChallengeLimits::default()).unwrap();
            assert_eq!(r.seed_tag.as_deref(), Some(seed_tag(&b).as_str()));
            assert_ne!(r.seed_tag, ok.seed_tag);
            if steps_b != steps_a {
                others += 1;
                assert!(!r.passed, "{steps_a:?} replayed for {steps_b:?}: {r:?}");
            }
        }
        assert!(others > 50);
    }

    #[test]
    fn bad_timestamps_and_samples_fail() {
        let steps = [Step::TurnLeft, Step::Blink];
        let good = perform(&steps, &TrackOpts::default());
        assert!(verify(&steps, &good).passed);

        let mut back = good.clone();
        back[10].t_ms = back[8].t_ms;
        assert_eq!(
            verify(&steps, &back).reason,
            Some(ChallengeFailure::TimestampsNotMonotonic)
        );
        let mut reversed = good.clone();
        reversed.swap(20, 21);
        assert_eq!(
            verify(&steps, &reversed).reason,
            Some(ChallengeFailure::TimestampsNotMonotonic)
        );

        let mut gap = good.clone();
        for s in &mut gap[15..] {
            s.t_ms += 1300.0;
        }
        assert_eq!(
            verify(&steps, &gap).reason,
            Some(ChallengeFailure::SamplingGap)
        );

        let mut nan = good.clone();
        nan[3].eye_openness_min = f32::NAN;
        assert_eq!(
            verify(&steps, &nan).reason,
            Some(ChallengeFailure::BadSample)
        );

        assert_eq!(
            verify(&steps, &[]).reason,
            Some(ChallengeFailure::NoSamples)
        );
        assert_eq!(verify(&[], &good).reason, Some(ChallengeFailure::NoSteps));
        for bad in [
            ChallengeLimits {
                baseline_ms: f64::NAN,
                ..ChallengeLimits::default()
            },
            ChallengeLimits {
                step_timeout_ms: -1.0,
                ..ChallengeLimits::default()
            },
            ChallengeLimits {
                blink_closed: 0.3,
                ..ChallengeLimits::default()
            },
            ChallengeLimits {
                server_window_ms: Some(f64::INFINITY),
                ..ChallengeLimits::default()
            },
        ] {
            assert_eq!(
                verify_challenge(&steps, &good, &bad).reason,
                Some(ChallengeFailure::BadLimits)
            );
        }

        // Longer than the server saw between issuing the seed and receiving the upload.
        let span = good.last().unwrap().t_ms - good[0].t_ms;
        let lim = ChallengeLimits {
            server_window_ms: Some(span - 100.0),
            ..ChallengeLimits::default()
        };
        assert_eq!(
            verify_challenge(&steps, &good, &lim).reason,
            Some(ChallengeFailure::ImplausibleDuration)
        );
        let lim = ChallengeLimits {
            server_window_ms: Some(span + 5000.0),
            ..ChallengeLimits::default()
        };
        assert!(verify_challenge(&steps, &good, &lim).passed);
        // Far longer than the challenge can take.
        let mut long = good.clone();
        let mut t = long.last().unwrap().t_ms;
        for _ in 0..400 {
            t += 50.0;
            long.push(PoseSample { t_ms: t, ..good[0] });
        }
        assert_eq!(
            verify(&steps, &long).reason,
            Some(ChallengeFailure::ImplausibleDuration)
        );
    }

    #[test]
    fn blinks_are_measured_not_assumed() {
        let steps = [Step::TurnRight, Step::Blink];
        // No eye closure at all: the blink step is missing.
        let mut no_blink = perform(&steps, &TrackOpts::default());
        no_blink.iter_mut().for_each(|s| s.eye_openness_min = 0.3);
        assert_eq!(
            verify(&steps, &no_blink).reason,
            Some(ChallengeFailure::StepMissing)
        );
        // Eyes closed for a second and reopened: not a blink.
        let mut long_close = no_blink.clone();
        let t_mid = long_close[long_close.len() * 3 / 4].t_ms;
        for s in &mut long_close {
            if (s.t_ms - t_mid).abs() < 500.0 {
                s.eye_openness_min = 0.04;
            }
        }
        assert_eq!(
            verify(&steps, &long_close).reason,
            Some(ChallengeFailure::StepMissing)
        );
        // A half closure (0.15) is not a blink either.
        let mut half = no_blink.clone();
        for s in &mut half {
            if (s.t_ms - t_mid).abs() < 100.0 {
                s.eye_openness_min = 0.15;
            }
        }
        assert_eq!(
            verify(&steps, &half).reason,
            Some(ChallengeFailure::StepMissing)
        );
    }

    #[test]
    fn pose_is_relative_to_the_neutral_start() {
        // Camera held low: the whole track is pitched up by 14°; no "look up" is seen.
        let steps = [Step::TurnLeft, Step::Blink];
        let low = perform(
            &steps,
            &TrackOpts {
                baseline: (0.0, 14.0),
                ..Default::default()
            },
        );
        assert!(verify(&steps, &low).passed);
        let askew = perform(
            &steps,
            &TrackOpts {
                baseline: (28.0, 0.0),
                ..Default::default()
            },
        );
        assert_eq!(
            verify(&steps, &askew).reason,
            Some(ChallengeFailure::NotCentredAtStart)
        );
    }

    #[test]
    fn result_serialises_with_stable_codes() {
        let r = verify(
            &[Step::TurnLeft, Step::LookUp],
            &perform(&[Step::LookUp, Step::TurnLeft], &TrackOpts::default()),
        );
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["reason"], "wrong_order");
        assert_eq!(j["steps"][1], "look_up");
        use ChallengeFailure as F;
        for f in [
            F::BadLimits,
            F::NoSteps,
            F::NoSamples,
            F::BadSample,
            F::TimestampsNotMonotonic,
            F::SamplingGap,
            F::ImplausibleDuration,
            F::NotCentredAtStart,
            F::WrongOrder,
            F::TooSlow,
            F::ImplausiblyFast,
            F::StepMissing,
        ] {
            assert_eq!(serde_json::to_value(f).unwrap(), f.code());
        }
        for s in [
            Step::TurnLeft,
            Step::TurnRight,
            Step::LookUp,
            Step::LookDown,
            Step::Blink,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.code());
        }
        let back: ChallengeResult = serde_json::from_value(j).unwrap();
        assert_eq!(back, r);
    }
}
