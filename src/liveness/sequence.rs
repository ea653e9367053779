//! A capture's liveness evidence as a sequence: what the device records frame by frame, and
//! the one function that turns it into a [`LivenessResult`] — used by the page (its own,
//! untrusted estimate), the backend (the decision) and `liveform check --video` alike.
//!
//! The device records a [`LivenessTrack`] while the user performs the challenge: per analysed
//! frame the head pose and eye openness ([`PoseSample`]) and the [`TRACK_POINTS`] of the mesh
//! ([`LandmarkFrame`]). The backend cannot trust those numbers, so it also receives a few key
//! frames (JPEG) taken during the track, re-runs the mesh on them and compares with the track
//! at the same instant ([`check_key_frame`]); a track that disagrees with its own pixels is a
//! veto (`track_mismatch`).

use crate::capture::frame_score;
use crate::error::{Error, ErrorCode, Result};
use crate::frame::FrameView;
use crate::geometry::BBox;
use crate::liveness::challenge::{
    verify_challenge_for_seed, ChallengeConfig, ChallengeLimits, PoseSample,
};
use crate::liveness::cues;
use crate::liveness::parallax::{
    iod, texture_parallax, ParallaxConfig, ParallaxVerdict, PosedFrame, TextureParallax,
};
use crate::liveness::planarity::{
    planarity_evidence, LandmarkFrame, PlanarityConfig, TRACK_LAYOUT, TRACK_POINTS,
};
use crate::liveness::{combine, LivenessConfig, LivenessResult, LivenessSignals};
use crate::policy::{judge, LivenessMode, Policy, Verdict};
use crate::vision::{analyze, AnalyzeOptions, FaceAnalysis, Models};
use serde::{Deserialize, Serialize};

/// Most samples a track holds: 30 s at 20 analysed frames per second.
pub const MAX_TRACK_SAMPLES: usize = 600;
/// Points of the mesh (x, y, z flattened) a [`FaceAnalysis`] carries.
const MESH_POINTS: usize = 468;

/// Per-frame liveness evidence of one capture. `poses[i]` and `landmarks[i]` come from the
/// same frame; both are in capture time (ms, any origin, increasing).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LivenessTrack {
    pub poses: Vec<PoseSample>,
    pub landmarks: Vec<LandmarkFrame>,
}

impl LivenessTrack {
    /// Records the face of the frame seen at `t_ms`. Returns false (and records nothing)
    /// when the track is full, the time does not advance, or the face has no mesh points.
    pub fn record(&mut self, t_ms: f64, face: &FaceAnalysis) -> bool {
        if self.poses.len() >= MAX_TRACK_SAMPLES
            || !t_ms.is_finite()
            || self.poses.last().is_some_and(|p| p.t_ms >= t_ms)
        {
            return false;
        }
        let Some(points) = track_points(&face.landmarks) else {
            return false;
        };
        let (yaw, pitch) = (face.pose.yaw, face.pose.pitch);
        if !(yaw.is_finite() && pitch.is_finite()) {
            return false;
        }
        let eye = face.eye_openness[0].min(face.eye_openness[1]);
        self.poses.push(PoseSample {
            t_ms,
            yaw,
            pitch,
            eye_openness_min: if eye.is_finite() { eye } else { 0.0 },
        });
        self.landmarks.push(LandmarkFrame {
            t_ms,
            yaw,
            pitch,
            points,
        });
        true
    }

    pub fn len(&self) -> usize {
        self.poses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.poses.is_empty()
    }

    /// Checks an uploaded track's shape (not its plausibility — that is what the judging
    /// does): at most [`MAX_TRACK_SAMPLES`], as many landmark frames as poses, every landmark
    /// frame holding [`TRACK_POINTS`] points, every number finite.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| {
            Err(Error::new(
                ErrorCode::BadInput,
                format!("liveness track: {m}"),
            ))
        };
        if self.poses.len() > MAX_TRACK_SAMPLES || self.landmarks.len() > MAX_TRACK_SAMPLES {
            return bad(format!("more than {MAX_TRACK_SAMPLES} samples"));
        }
        if self.poses.len() != self.landmarks.len() {
            return bad("poses and landmark frames differ in number".into());
        }
        for (i, (p, l)) in self.poses.iter().zip(&self.landmarks).enumerate() {
            let finite = p.t_ms.is_finite()
                && p.yaw.is_finite()
                && p.pitch.is_finite()
                && p.eye_openness_min.is_finite()
                && l.t_ms.is_finite()
                && l.yaw.is_finite()
                && l.pitch.is_finite()
                && l.points.iter().flatten().all(|v| v.is_finite());
            if !finite {
                return bad(format!("sample {i} holds a number that is not finite"));
            }
            if l.points.len() != TRACK_POINTS.len() {
                return bad(format!(
                    "sample {i} has {} points, not {}",
                    l.points.len(),
                    TRACK_POINTS.len()
                ));
            }
        }
        Ok(())
    }

    /// The landmark frame closest in time to `t_ms`, if one is within `max_dt_ms`.
    pub fn nearest(&self, t_ms: f64, max_dt_ms: f64) -> Option<&LandmarkFrame> {
        self.landmarks
            .iter()
            .filter(|l| (l.t_ms - t_ms).abs() <= max_dt_ms)
            .min_by(|a, b| (a.t_ms - t_ms).abs().total_cmp(&(b.t_ms - t_ms).abs()))
    }
}

/// The [`TRACK_POINTS`] (x, y) out of a flattened 468×(x, y, z) mesh.
fn track_points(mesh: &[f32]) -> Option<Vec<[f32; 2]>> {
    if mesh.len() < MESH_POINTS * 3 {
        return None;
    }
    TRACK_POINTS
        .iter()
        .map(|&i| {
            let (x, y) = (mesh[i * 3], mesh[i * 3 + 1]);
            (x.is_finite() && y.is_finite()).then_some([x, y])
        })
        .collect()
}

/// How far a key frame's own mesh may be from the track at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyFrameLimits {
    /// The track must have a sample this close in time to the key frame.
    pub max_dt_ms: f64,
    /// Largest yaw or pitch difference, degrees.
    pub max_pose_deg: f32,
    /// Largest RMS point distance, in inter-ocular distances.
    pub max_points_iod: f32,
}

impl Default for KeyFrameLimits {
    /// The same frame re-analysed differs only by JPEG loss (≪ 1°, ≪ 0.05 IOD); the limits
    /// leave room for that and for a neighbouring frame, not for another pose.
    fn default() -> Self {
        KeyFrameLimits {
            max_dt_ms: 60.0,
            max_pose_deg: 6.0,
            max_points_iod: 0.12,
        }
    }
}

/// The agreement of the key frames with the track.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct KeyFrameCheck {
    /// Key frames compared.
    pub checked: u32,
    /// Key frames that disagreed (no sample near in time, no face, other pose or points).
    pub mismatched: u32,
    /// Largest pose difference seen, degrees.
    pub max_pose_diff_deg: f32,
    /// Largest RMS point distance seen, IOD units.
    pub max_points_diff_iod: f32,
}

impl KeyFrameCheck {
    /// Every key frame checked agreed.
    pub fn consistent(&self) -> bool {
        self.mismatched == 0
    }

    /// Compares one key frame taken at `at_ms` — `face` is the mesh re-run on its pixels, or
    /// `None` when no face was found there — with the track.
    pub fn add(
        &mut self,
        track: &LivenessTrack,
        at_ms: f64,
        face: Option<&FaceAnalysis>,
        limits: &KeyFrameLimits,
    ) {
        self.checked += 1;
        let sample = track.nearest(at_ms, limits.max_dt_ms);
        let points = face.and_then(|f| track_points(&f.landmarks));
        let (Some(sample), Some(face), Some(points)) = (sample, face, points) else {
            self.mismatched += 1;
            return;
        };
        let pose = (face.pose.yaw - sample.yaw)
            .abs()
            .max((face.pose.pitch - sample.pitch).abs());
        let iod = iod(&sample.points).unwrap_or(0.0);
        let rms = if iod > 1.0 {
            let sum: f32 = points
                .iter()
                .zip(&sample.points)
                .map(|(a, b)| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2))
                .sum();
            (sum / points.len() as f32).sqrt() / iod
        } else {
            f32::INFINITY
        };
        self.max_pose_diff_deg = self.max_pose_diff_deg.max(pose);
        self.max_points_diff_iod = self.max_points_diff_iod.max(rms.min(1e6));
        if !(pose <= limits.max_pose_deg && rms <= limits.max_points_iod) {
            self.mismatched += 1;
        }
    }
}

/// Re-runs the face mesh on each key frame (`(at_ms, pixels)`) and compares it with the
/// track. A non-empty track with no key frame to back it is one mismatch: numbers without
/// pixels prove nothing.
pub fn check_key_frames(
    models: &Models,
    track: &LivenessTrack,
    key_frames: &[(f64, FrameView)],
    limits: &KeyFrameLimits,
) -> Result<KeyFrameCheck> {
    let mut check = KeyFrameCheck::default();
    // The mesh is all that is compared: the per-face classifiers are skipped.
    let opts = AnalyzeOptions {
        classifiers: false,
        keep_landmarks: true,
        ..AnalyzeOptions::default()
    };
    for (at_ms, view) in key_frames {
        let analysis = analyze(models, view, &opts)?;
        check.add(track, *at_ms, analysis.face.as_ref(), limits);
    }
    if check.checked == 0 && !track.is_empty() {
        check.mismatched = 1;
    }
    Ok(check)
}

/// Pixel parallax (see [`parallax`](crate::liveness::parallax)) between the two frames
/// (`(t_ms, pixels)`) whose poses — from the track at those instants, within
/// [`KeyFrameLimits::max_dt_ms`] — differ most: the most informative pair. When that pair
/// cannot be measured (too few points matched) the next is tried. `None` when no pair could
/// be measured at all.
pub fn texture_evidence(
    track: &LivenessTrack,
    frames: &[(f64, &FrameView)],
    cfg: &ParallaxConfig,
) -> Option<TextureParallax> {
    let max_dt = KeyFrameLimits::default().max_dt_ms;
    let posed: Vec<PosedFrame> = frames
        .iter()
        .filter_map(|(t, v)| {
            let l = track.nearest(*t, max_dt)?;
            Some(PosedFrame {
                view: v,
                points: &l.points,
                yaw: l.yaw,
                pitch: l.pitch,
            })
        })
        .collect();
    let mut pairs = Vec::new();
    for i in 0..posed.len() {
        for j in i + 1..posed.len() {
            let (a, b) = (&posed[i], &posed[j]);
            let turn = (a.yaw - b.yaw).abs().max((a.pitch - b.pitch).abs());
            pairs.push((turn, i, j));
        }
    }
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
    let mut first = None;
    for (_, i, j) in pairs {
        let Ok(r) = texture_parallax(posed[i], posed[j], cfg) else {
            continue;
        };
        if r.verdict != ParallaxVerdict::Inconclusive || r.turn_deg < cfg.min_turn_deg {
            return Some(r);
        }
        first.get_or_insert(r);
    }
    first
}

/// The single-frame cues on a face box of one frame: moiré, glare and colour gamut. A cue
/// that cannot be measured (e.g. a box under 64 px for moiré) is left out.
pub fn face_cues(view: &FrameView, bbox: &BBox) -> (Option<f32>, Option<f32>, Option<f32>) {
    let (luma, w, h) = view.luma_region(bbox);
    let (w, h) = (w as usize, h as usize);
    let moire = cues::moire(&luma, w, h).ok().map(|m| m.moire_score);
    let glare = cues::glare(&luma, w, h).ok().map(|g| g.glare_share);
    let (x0, y0, x1, y1) = bbox.clamp_pixels(view.width(), view.height());
    let stride = view.width() as usize * 4;
    let rgba = view.rgba();
    let mut px = Vec::with_capacity((x1 - x0) as usize * (y1 - y0) as usize * 4);
    for y in y0 as usize..y1 as usize {
        let row = y * stride;
        if let Some(r) = rgba.get(row + x0 as usize * 4..row + x1 as usize * 4) {
            px.extend_from_slice(r);
        }
    }
    let gamut = cues::gamut(&px, 4).ok().map(|g| g.chroma_spread);
    (moire, glare, gamut)
}

/// The challenge a session issued: its seed (from the backend) and the rules.
#[derive(Debug, Clone, Copy)]
pub struct IssuedChallenge<'a> {
    pub seed: &'a [u8],
    pub config: &'a ChallengeConfig,
    pub limits: &'a ChallengeLimits,
}

/// Everything one capture's liveness is judged on.
#[derive(Clone, Copy)]
pub struct SequenceInput<'a> {
    /// The recorded track (may be empty: a passive capture).
    pub track: &'a LivenessTrack,
    /// The challenge, when one was issued; `None` judges without one.
    pub challenge: Option<IssuedChallenge<'a>>,
    /// The analysis of the selected (best) frame and that frame's pixels.
    pub best_face: Option<&'a FaceAnalysis>,
    pub best_view: Option<&'a FrameView<'a>>,
    /// The key frames' agreement with the track, when key frames were checked.
    pub key_frames: Option<KeyFrameCheck>,
    /// The pixel parallax of the turn, when measured ([`texture_evidence`]).
    pub texture: Option<TextureParallax>,
}

/// Judges a capture's liveness: the challenge (re-derived from the seed and re-verified on
/// the pose track), the 3-D evidence of the landmark track, the passive model and the cues
/// of the best frame, and the key frames' agreement, combined by [`combine`].
///
/// A track too short for the 3-D test gives no planarity signal (inconclusive evidence is
/// reported as `no_3d_evidence`); a challenge seed the rules reject is an error.
pub fn assess(input: &SequenceInput, cfg: &LivenessConfig) -> Result<LivenessResult> {
    let mut signals = LivenessSignals::default();
    if let Some(c) = input.challenge {
        signals.challenge = Some(verify_challenge_for_seed(
            c.seed,
            c.config,
            &input.track.poses,
            c.limits,
        )?);
    }
    if !input.track.landmarks.is_empty() {
        signals.planarity = planarity_evidence(
            &input.track.landmarks,
            &TRACK_LAYOUT,
            &PlanarityConfig::default(),
        )
        .ok();
    }
    if let Some(face) = input.best_face {
        signals.passive = face.passive_liveness;
        if let Some(view) = input.best_view {
            let (moire, glare, gamut) = face_cues(view, &face.detection.bbox);
            signals.moire = moire;
            signals.glare = glare;
            signals.gamut = gamut;
        }
    }
    signals.key_frames = input.key_frames;
    signals.texture = input.texture;
    Ok(combine(&signals, cfg))
}

/// What [`judge_sequence`] found in a frame sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceReport {
    /// Frames given.
    pub frames: usize,
    /// Frames in which a face (with its mesh) was found and recorded in the track.
    pub frames_with_face: usize,
    /// Index of the frame judged as the selfie: the best-ranked frame that passes the
    /// prechecks, else the best-ranked frame with a face.
    pub best_frame: Option<usize>,
    /// The prechecks of the best frame, with the liveness score applied.
    pub verdict: Option<Verdict>,
    /// The liveness decision over the whole sequence.
    pub liveness: LivenessResult,
}

/// Runs the liveness pipeline over a frame sequence (`(t_ms, pixels)`, times increasing):
/// the mesh on every frame builds the track, the best frame gets the full prechecks, and
/// [`assess`] decides — with the challenge of `challenge_seed` when given (then judged as
/// Active liveness whatever the policy says), else by the policy's mode. This is what
/// `liveform check --video` runs, and what the backend's decision is made of (there the
/// track comes from the device and is checked against key frames instead).
pub fn judge_sequence(
    models: &Models,
    policy: &Policy,
    frames: &[(f64, FrameView)],
    challenge_seed: Option<&[u8]>,
) -> Result<SequenceReport> {
    let light = AnalyzeOptions {
        classifiers: false,
        keep_landmarks: true,
        ..AnalyzeOptions::default()
    };
    let mut track = LivenessTrack::default();
    let mut best: Option<(bool, f32, usize)> = None;
    for (i, (t_ms, view)) in frames.iter().enumerate() {
        let analysis = analyze(models, view, &light)?;
        let Some(face) = &analysis.face else { continue };
        track.record(*t_ms, face);
        let passed = judge(policy, &analysis, None).passed;
        let rank = (
            passed,
            frame_score(face.quality.sharpness, face.quality.centre_offset),
        );
        if best.is_none_or(|(p, s, _)| rank > (p, s)) {
            best = Some((rank.0, rank.1, i));
        }
    }
    let best_frame = best.map(|(_, _, i)| i);
    let texture = sequence_texture(&track, frames);
    let best_analysis = match best_frame {
        Some(i) => Some(analyze(models, &frames[i].1, &AnalyzeOptions::default())?),
        None => None,
    };
    let (config, limits) = (ChallengeConfig::default(), ChallengeLimits::default());
    let input = SequenceInput {
        track: &track,
        challenge: challenge_seed.map(|seed| IssuedChallenge {
            seed,
            config: &config,
            limits: &limits,
        }),
        best_face: best_analysis.as_ref().and_then(|a| a.face.as_ref()),
        best_view: best_frame.map(|i| &frames[i].1),
        key_frames: None,
        texture,
    };
    let active = challenge_seed.is_some() || policy.liveness_mode == LivenessMode::Active;
    let liveness = assess(
        &input,
        &LivenessConfig::for_policy(policy.liveness_threshold, active),
    )?;
    let verdict = best_analysis
        .as_ref()
        .map(|a| judge(policy, a, Some(liveness.score)));
    Ok(SequenceReport {
        frames: frames.len(),
        frames_with_face: track.len(),
        best_frame,
        verdict,
        liveness,
    })
}

/// The texture evidence of a whole sequence: among its first tracked frame and the frames of
/// extreme yaw and pitch, the pair that differs most.
fn sequence_texture(track: &LivenessTrack, frames: &[(f64, FrameView)]) -> Option<TextureParallax> {
    let first = track.landmarks.first()?;
    let extreme = |key: &dyn Fn(&LandmarkFrame) -> f32, max: bool| {
        let cmp = |a: &&LandmarkFrame, b: &&LandmarkFrame| key(a).total_cmp(&key(b));
        let it = track.landmarks.iter();
        if max { it.max_by(cmp) } else { it.min_by(cmp) }.map(|l| l.t_ms)
    };
    let times = [
        Some(first.t_ms),
        extreme(&|l| l.yaw, false),
        extreme(&|l| l.yaw, true),
        extreme(&|l| l.pitch, false),
        extreme(&|l| l.pitch, true),
    ];
    let mut chosen: Vec<(f64, &FrameView)> = Vec::new();
    for t in times.into_iter().flatten() {
        if chosen.iter().any(|(ct, _)| *ct == t) {
            continue;
        }
        if let Some((ft, v)) = frames.iter().find(|(ft, _)| *ft == t) {
            chosen.push((*ft, v));
        }
    }
    texture_evidence(track, &chosen, &ParallaxConfig::default())
}
