//! The upload payload: what the browser seals into the envelope (see [`crate::envelope`]) and
//! the backend opens and checks again.
//!
//! # Format, version 1
//!
//! UTF-8 JSON, camelCase keys, unknown keys refused. Example (frames shortened):
//!
//! ```json
//! {"version":1,"sdkVersion":"0.1.0",
//!  "bestFrame":{"jpeg":"/9j/4AAQ…","atMs":2310},
//!  "keyFrames":[{"jpeg":"/9j/4AAQ…","atMs":1200,"label":"turn_left"}],
//!  "claimed":{"passed":true,"reasons":[],"scores":{"liveness":91.5,"occlusion":3.0,"face_match":null}},
//!  "signals":{"cameraLabel":"FaceTime HD Camera",
//!             "track":{"width":1280,"height":720,"frameRate":30.0,"facingMode":"user"},
//!             "timing":{"durationMs":2400,"framesSeen":70,"framesAnalyzed":35,
//!                       "meanIntervalMs":34.2,"maxIntervalMs":80.0}}}
//! ```
//!
//! - `bestFrame.jpeg` is the frame the device judged, as base64 (standard alphabet, padding
//!   optional) of a JPEG file. `keyFrames` are optional extra frames (e.g. one per active
//!   challenge step), at most [`MAX_KEY_FRAMES`].
//! - `claimed` is the device's own verdict. It is recorded, never trusted: the backend decodes
//!   `bestFrame`, runs the same checks natively and decides on its own result.
//! - `signals` describe the capture (camera label, track settings, frame timing), for audit
//!   and fraud analysis; all optional.
//! - `liveness` (optional) is the [`LivenessTrack`] of an active challenge: per analysed
//!   frame `{t_ms, yaw, pitch, eye_openness_min}` in `poses` and `{t_ms, yaw, pitch,
//!   points}` in `landmarks` (the mesh's `TRACK_POINTS`, frame pixels), on the `atMs` clock.
//! - `atMs` values are milliseconds since the capture started (the core reads no clock, the
//!   caller passes them in).
//!
//! # Limits
//!
//! The JSON is at most [`MAX_PAYLOAD_LEN`] bytes; each decoded JPEG at most
//! [`MAX_FRAME_LEN`]; text fields at most [`MAX_TEXT_LEN`] bytes without control characters;
//! numbers finite and not negative. [`UploadPayload::from_slice`] checks the length before
//! parsing anything, so an oversized body costs no allocation.
//!
//! # Errors
//!
//! Every failure is an [`UploadError`] with a stable [`code`](UploadError::code):
//! `payload_too_large`, `bad_payload`, `unsupported_payload_version`, `too_many_frames`,
//! `frame_too_large`, `frame_not_jpeg`, `bad_signal`, `payload_serialize_failed`.

use std::fmt;

use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::liveness::LivenessTrack;
use crate::policy::{Reason, Scores, Verdict};

pub mod retry;

/// The payload format version this module writes and reads.
pub const PAYLOAD_VERSION: u32 = 1;
/// Largest payload JSON, in bytes (a sealed envelope adds a header and a 16-byte tag).
pub const MAX_PAYLOAD_LEN: usize = 6 * 1024 * 1024;
/// Largest single JPEG, in bytes (decoded from base64).
pub const MAX_FRAME_LEN: usize = 2 * 1024 * 1024;
/// Most extra key frames besides the best frame.
pub const MAX_KEY_FRAMES: usize = 4;
/// Longest text field (labels, camera name, SDK version), in bytes.
pub const MAX_TEXT_LEN: usize = 256;
/// Most reasons in a claimed verdict (there are fewer distinct reasons than this).
pub const MAX_REASONS: usize = 32;

// Standard alphabet (what `btoa` and `FileReader` give); padding optional on input.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The plaintext of an upload envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadPayload {
    /// Always [`PAYLOAD_VERSION`].
    pub version: u32,
    /// The SDK version that built the payload ([`crate::VERSION`]).
    pub sdk_version: String,
    /// The frame the device judged.
    pub best_frame: EncodedFrame,
    /// Optional extra frames (e.g. one per active-liveness step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_frames: Vec<EncodedFrame>,
    /// The device's own verdict: recorded, never trusted.
    pub claimed: ClaimedVerdict,
    /// What the browser reported about the capture.
    #[serde(default)]
    pub signals: CaptureSignals,
    /// The per-frame liveness track recorded during the active challenge (absent in a
    /// passive capture); the backend re-judges it and checks it against `keyFrames`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessTrack>,
}

/// One JPEG frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncodedFrame {
    /// JPEG file bytes; base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub jpeg: Vec<u8>,
    /// Milliseconds since the capture started.
    pub at_ms: u64,
    /// What the frame shows (e.g. `turn_left`), for key frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl EncodedFrame {
    /// A frame from JPEG bytes taken `at_ms` after the capture started.
    pub fn new(jpeg: Vec<u8>, at_ms: u64) -> Self {
        EncodedFrame {
            jpeg,
            at_ms,
            label: None,
        }
    }

    /// The same frame with a label.
    pub fn with_label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }
}

/// The verdict the device claims for its best frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimedVerdict {
    /// Whether the device says the frame passed.
    pub passed: bool,
    /// The reasons the device found.
    #[serde(default)]
    pub reasons: Vec<Reason>,
    /// The device's scores.
    #[serde(default)]
    pub scores: Scores,
}

impl From<&Verdict> for ClaimedVerdict {
    fn from(v: &Verdict) -> Self {
        ClaimedVerdict {
            passed: v.passed,
            reasons: v.reasons.clone(),
            scores: v.scores,
        }
    }
}

/// What the browser reports about the capture. Every field is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaptureSignals {
    /// `MediaStreamTrack.label` of the camera (a virtual camera's name is a fraud signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_label: Option<String>,
    /// `MediaStreamTrack.getSettings()` of the camera.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackSettings>,
    /// How frames arrived during the capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<FrameTiming>,
}

/// The camera track's settings as the browser reported them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackSettings {
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Frames per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<f64>,
    /// `user`, `environment`, … as reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facing_mode: Option<String>,
    /// `none` or `crop-and-scale`, as reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_mode: Option<String>,
}

/// Frame timing over the capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FrameTiming {
    /// From the first frame to the capture decision, in milliseconds.
    pub duration_ms: u64,
    /// Frames the grabber received.
    pub frames_seen: u32,
    /// Frames the prechecks ran on.
    pub frames_analyzed: u32,
    /// Mean time between received frames, in milliseconds.
    pub mean_interval_ms: f64,
    /// Longest time between received frames, in milliseconds.
    pub max_interval_ms: f64,
}

impl UploadPayload {
    /// A payload with the best frame and the device's verdict, no key frames and no signals.
    pub fn new(best_frame: EncodedFrame, claimed: ClaimedVerdict) -> Self {
        UploadPayload {
            version: PAYLOAD_VERSION,
            sdk_version: crate::VERSION.to_owned(),
            best_frame,
            key_frames: Vec::new(),
            claimed,
            signals: CaptureSignals::default(),
            liveness: None,
        }
    }

    /// Checks every limit in the module docs.
    pub fn validate(&self) -> Result<(), UploadError> {
        if self.version != PAYLOAD_VERSION {
            return Err(UploadError::UnsupportedVersion {
                found: self.version,
            });
        }
        check_text("sdkVersion", &self.sdk_version, false)?;
        if self.key_frames.len() > MAX_KEY_FRAMES {
            return Err(UploadError::TooManyFrames {
                count: self.key_frames.len(),
                max: MAX_KEY_FRAMES,
            });
        }
        for (index, frame) in std::iter::once(&self.best_frame)
            .chain(&self.key_frames)
            .enumerate()
        {
            check_frame(index, frame)?;
        }
        if self.claimed.reasons.len() > MAX_REASONS {
            return Err(UploadError::BadSignal {
                field: "claimed.reasons",
                reason: "lists too many reasons",
            });
        }
        let s = &self.claimed.scores;
        for (field, v) in [
            ("claimed.scores.liveness", s.liveness),
            ("claimed.scores.occlusion", s.occlusion),
            ("claimed.scores.face_match", s.face_match),
        ] {
            if let Some(v) = v {
                check_number(field, f64::from(v))?;
            }
        }
        if let Some(track) = &self.liveness {
            track.validate().map_err(|_| UploadError::BadSignal {
                field: "liveness",
                reason: "is not a well-formed track (sizes, point counts, finite numbers)",
            })?;
        }
        self.signals.validate()
    }

    /// Validates and writes the JSON bytes to seal.
    pub fn to_vec(&self) -> Result<Vec<u8>, UploadError> {
        self.validate()?;
        let bytes = serde_json::to_vec(self).map_err(|_| UploadError::Serialize)?;
        if bytes.len() > MAX_PAYLOAD_LEN {
            return Err(UploadError::TooLarge {
                len: bytes.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        Ok(bytes)
    }

    /// Reads and validates opened envelope bytes. The length is checked first, then the
    /// version (so a newer client gets `unsupported_payload_version`, not a field error), then
    /// the whole structure.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, UploadError> {
        if bytes.len() > MAX_PAYLOAD_LEN {
            return Err(UploadError::TooLarge {
                len: bytes.len(),
                max: MAX_PAYLOAD_LEN,
            });
        }
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly =
            serde_json::from_slice(bytes).map_err(|e| UploadError::BadPayload {
                detail: json_error_detail(&e),
            })?;
        if v.version != PAYLOAD_VERSION {
            return Err(UploadError::UnsupportedVersion { found: v.version });
        }
        let payload: UploadPayload =
            serde_json::from_slice(bytes).map_err(|e| UploadError::BadPayload {
                detail: json_error_detail(&e),
            })?;
        payload.validate()?;
        Ok(payload)
    }
}

impl CaptureSignals {
    /// Checks text lengths and number ranges.
    pub fn validate(&self) -> Result<(), UploadError> {
        if let Some(label) = &self.camera_label {
            check_text("signals.cameraLabel", label, true)?;
        }
        if let Some(t) = &self.track {
            if let Some(fr) = t.frame_rate {
                check_number("signals.track.frameRate", fr)?;
            }
            if let Some(m) = &t.facing_mode {
                check_text("signals.track.facingMode", m, true)?;
            }
            if let Some(m) = &t.resize_mode {
                check_text("signals.track.resizeMode", m, true)?;
            }
        }
        if let Some(t) = &self.timing {
            check_number("signals.timing.meanIntervalMs", t.mean_interval_ms)?;
            check_number("signals.timing.maxIntervalMs", t.max_interval_ms)?;
            if t.frames_analyzed > t.frames_seen {
                return Err(UploadError::BadSignal {
                    field: "signals.timing.framesAnalyzed",
                    reason: "is more than framesSeen",
                });
            }
        }
        Ok(())
    }
}

fn check_frame(index: usize, frame: &EncodedFrame) -> Result<(), UploadError> {
    if frame.jpeg.len() > MAX_FRAME_LEN {
        return Err(UploadError::FrameTooLarge {
            index,
            len: frame.jpeg.len(),
            max: MAX_FRAME_LEN,
        });
    }
    // SOI marker followed by another marker: every JPEG file starts so.
    if frame.jpeg.get(..3) != Some(&[0xFF, 0xD8, 0xFF][..]) {
        return Err(UploadError::NotJpeg { index });
    }
    if let Some(label) = &frame.label {
        check_text("frame label", label, true)?;
    }
    Ok(())
}

fn check_text(field: &'static str, v: &str, may_be_empty: bool) -> Result<(), UploadError> {
    if v.len() > MAX_TEXT_LEN {
        return Err(UploadError::BadSignal {
            field,
            reason: "is too long",
        });
    }
    if !may_be_empty && v.is_empty() {
        return Err(UploadError::BadSignal {
            field,
            reason: "is empty",
        });
    }
    if v.chars().any(char::is_control) {
        return Err(UploadError::BadSignal {
            field,
            reason: "contains a control character",
        });
    }
    Ok(())
}

fn check_number(field: &'static str, v: f64) -> Result<(), UploadError> {
    if !v.is_finite() || v < 0.0 {
        return Err(UploadError::BadSignal {
            field,
            reason: "must be a finite number, not negative",
        });
    }
    Ok(())
}

/// serde's message names the problem and the position; it may quote a key or a variant name,
/// never a whole value, so it is safe to return to the sender.
fn json_error_detail(e: &serde_json::Error) -> String {
    let mut s = e.to_string();
    s.truncate(200);
    s
}

mod base64_bytes {
    use super::B64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        B64.decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("a frame's jpeg is not valid base64"))
    }
}

/// Why a payload could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// The JSON exceeds [`MAX_PAYLOAD_LEN`]. Code `payload_too_large`.
    TooLarge {
        /// Length given, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid JSON of this format (bad syntax, wrong type, unknown key, bad base64). Code
    /// `bad_payload`.
    BadPayload {
        /// The parser's message.
        detail: String,
    },
    /// `version` is not [`PAYLOAD_VERSION`]. Code `unsupported_payload_version`.
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// More than [`MAX_KEY_FRAMES`] key frames. Code `too_many_frames`.
    TooManyFrames {
        /// Key frames given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A JPEG exceeds [`MAX_FRAME_LEN`]. Code `frame_too_large`.
    FrameTooLarge {
        /// 0 for the best frame, then the key frames in order from 1.
        index: usize,
        /// Length, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A frame's bytes are not a JPEG file. Code `frame_not_jpeg`.
    NotJpeg {
        /// 0 for the best frame, then the key frames in order from 1.
        index: usize,
    },
    /// A text or number field breaks its rule. Code `bad_signal`.
    BadSignal {
        /// The field.
        field: &'static str,
        /// Which rule, in words.
        reason: &'static str,
    },
    /// Writing the JSON failed. Code `payload_serialize_failed`.
    Serialize,
}

impl UploadError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            UploadError::TooLarge { .. } => "payload_too_large",
            UploadError::BadPayload { .. } => "bad_payload",
            UploadError::UnsupportedVersion { .. } => "unsupported_payload_version",
            UploadError::TooManyFrames { .. } => "too_many_frames",
            UploadError::FrameTooLarge { .. } => "frame_too_large",
            UploadError::NotJpeg { .. } => "frame_not_jpeg",
            UploadError::BadSignal { .. } => "bad_signal",
            UploadError::Serialize => "payload_serialize_failed",
        }
    }

    /// The crate-level code: `bad_image` for a frame that is not a JPEG, otherwise
    /// `bad_input`.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            UploadError::NotJpeg { .. } => ErrorCode::BadImage,
            _ => ErrorCode::BadInput,
        }
    }
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::TooLarge { len, max } => {
                write!(
                    f,
                    "the upload payload is {len} bytes, more than the {max} allowed"
                )
            }
            UploadError::BadPayload { detail } => {
                write!(f, "the upload payload is invalid: {detail}")
            }
            UploadError::UnsupportedVersion { found } => write!(
                f,
                "upload payload version {found} is not supported (expected {PAYLOAD_VERSION})"
            ),
            UploadError::TooManyFrames { count, max } => {
                write!(f, "{count} key frames, more than the {max} allowed")
            }
            UploadError::FrameTooLarge { index, len, max } => {
                write!(
                    f,
                    "frame {index} is {len} bytes, more than the {max} allowed"
                )
            }
            UploadError::NotJpeg { index } => write!(f, "frame {index} is not a JPEG file"),
            UploadError::BadSignal { field, reason } => write!(f, "{field} {reason}"),
            UploadError::Serialize => f.write_str("the upload payload could not be written"),
        }
    }
}

impl std::error::Error for UploadError {}

impl From<UploadError> for Error {
    fn from(e: UploadError) -> Self {
        Error::new(e.error_code(), format!("{}: {}", e.code(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
        v.extend_from_slice(&[7; 100]);
        v
    }

    fn payload() -> UploadPayload {
        let claimed = ClaimedVerdict {
            passed: true,
            reasons: vec![],
            scores: Scores {
                liveness: Some(91.5),
                occlusion: Some(3.0),
                face_match: None,
            },
        };
        let mut p = UploadPayload::new(EncodedFrame::new(jpeg(), 2310), claimed);
        p.key_frames
            .push(EncodedFrame::new(jpeg(), 1200).with_label("turn_left"));
        p.signals = CaptureSignals {
            camera_label: Some("FaceTime HD Camera".into()),
            track: Some(TrackSettings {
                width: Some(1280),
                height: Some(720),
                frame_rate: Some(30.0),
                facing_mode: Some("user".into()),
                resize_mode: None,
            }),
            timing: Some(FrameTiming {
                duration_ms: 2400,
                frames_seen: 70,
                frames_analyzed: 35,
                mean_interval_ms: 34.2,
                max_interval_ms: 80.0,
            }),
        };
        p
    }

    #[test]
    fn round_trip() {
        let p = payload();
        let bytes = p.to_vec().unwrap();
        assert_eq!(UploadPayload::from_slice(&bytes).unwrap(), p);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\"bestFrame\":{\"jpeg\":\"/9j/4A"), "{text}");
        assert!(text.contains("\"sdkVersion\""));
    }

    #[test]
    fn minimal_json_is_accepted() {
        let json = br#"{"version":1,"sdkVersion":"0.1.0","bestFrame":{"jpeg":"/9j/4A","atMs":0},"claimed":{"passed":false}}"#;
        let p = UploadPayload::from_slice(json).unwrap();
        assert_eq!(p.best_frame.jpeg, vec![0xFF, 0xD8, 0xFF, 0xE0]);
        assert!(p.key_frames.is_empty());
        assert_eq!(p.signals, CaptureSignals::default());
    }

    #[test]
    fn refusals_have_codes() {
        let code = |b: &[u8]| UploadPayload::from_slice(b).unwrap_err().code();
        assert_eq!(code(b"not json"), "bad_payload");
        assert_eq!(code(b"{}"), "bad_payload");
        assert_eq!(
            code(br#"{"version":2,"anything":true}"#),
            "unsupported_payload_version"
        );
        assert_eq!(
            code(br#"{"version":1,"sdkVersion":"x","bestFrame":{"jpeg":"%%%","atMs":0},"claimed":{"passed":true}}"#),
            "bad_payload"
        );
        assert_eq!(
            code(br#"{"version":1,"sdkVersion":"x","bestFrame":{"jpeg":"iVBORw0KGgo=","atMs":0},"claimed":{"passed":true}}"#),
            "frame_not_jpeg"
        );
        assert_eq!(
            code(br#"{"version":1,"sdkVersion":"x","bestFrame":{"jpeg":"/9j/4A","atMs":0},"claimed":{"passed":true},"extra":1}"#),
            "bad_payload"
        );
        assert_eq!(
            code(br#"{"version":1,"sdkVersion":"x","bestFrame":{"jpeg":"/9j/4A","atMs":0},"claimed":{"passed":true,"reasons":["not_a_reason"]}}"#),
            "bad_payload"
        );
        assert_eq!(
            code(br#"{"version":1,"sdkVersion":"","bestFrame":{"jpeg":"/9j/4A","atMs":0},"claimed":{"passed":true}}"#),
            "bad_signal"
        );
        let big = vec![b' '; MAX_PAYLOAD_LEN + 1];
        assert_eq!(code(&big), "payload_too_large");
    }

    #[test]
    fn limits() {
        let mut p = payload();
        p.key_frames = vec![EncodedFrame::new(jpeg(), 0); MAX_KEY_FRAMES + 1];
        assert_eq!(p.to_vec().unwrap_err().code(), "too_many_frames");

        let mut p = payload();
        let mut huge = jpeg();
        huge.resize(MAX_FRAME_LEN + 1, 0);
        p.best_frame.jpeg = huge;
        assert_eq!(
            p.to_vec().unwrap_err(),
            UploadError::FrameTooLarge {
                index: 0,
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            }
        );

        let mut p = payload();
        p.signals.camera_label = Some("a\u{0}b".into());
        assert_eq!(p.to_vec().unwrap_err().code(), "bad_signal");

        let mut p = payload();
        p.claimed.scores.liveness = Some(f32::NAN);
        assert_eq!(p.validate().unwrap_err().code(), "bad_signal");

        let mut p = payload();
        if let Some(t) = p.signals.timing.as_mut() {
            t.frames_analyzed = t.frames_seen + 1;
        }
        assert_eq!(p.to_vec().unwrap_err().code(), "bad_signal");
    }

    #[test]
    fn claimed_from_verdict() {
        let v = Verdict {
            passed: false,
            reasons: vec![Reason::NoFace],
            scores: Scores::default(),
            policy: crate::policy::Policy::default(),
        };
        let c = ClaimedVerdict::from(&v);
        assert!(!c.passed);
        assert_eq!(c.reasons, vec![Reason::NoFace]);
    }

    #[test]
    fn errors_map_to_crate_codes() {
        let e: Error = UploadError::NotJpeg { index: 0 }.into();
        assert_eq!(e.code, ErrorCode::BadImage);
        assert!(e.message.starts_with("frame_not_jpeg"));
        let e: Error = UploadError::Serialize.into();
        assert_eq!(e.code, ErrorCode::BadInput);
    }
}
