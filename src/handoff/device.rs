//! Where the selfie is taken: on this device, or on a phone through a handoff.
//!
//! The browser edge only gathers facts (`matchMedia("(pointer: …)")`, `maxTouchPoints`,
//! `navigator.userAgentData.mobile`, whether a video input exists); [`placement`] decides.
//!
//! # The rule
//!
//! 1. A page opened from a handoff link captures here (a handoff never chains).
//! 2. A phone or tablet captures here, whatever the project says: it has a camera in hand.
//!    Phone-like means UA client hints say `mobile`, or the primary pointer is coarse and
//!    the screen takes touch. A touchscreen laptop has a fine primary pointer (its trackpad),
//!    so it counts as a desktop; an Android tablet (UA-CH `mobile: false`) has a coarse
//!    primary pointer and touch, so it captures here.
//! 3. [`HandoffMode::Off`]: capture here.
//! 4. [`HandoffMode::Always`] (the project forces the handoff): a desktop gets only the
//!    QR code.
//! 5. [`HandoffMode::Auto`]: a desktop without a camera gets only the QR code; a desktop
//!    with a camera (or where that is unknown) captures here and is offered the phone.

use serde::{Deserialize, Serialize};

/// The primary pointing device, as CSS media queries report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pointer {
    /// A mouse or trackpad (`pointer: fine`).
    Fine,
    /// A finger (`pointer: coarse`).
    Coarse,
    /// No pointing device (`pointer: none`).
    None,
    /// Not reported.
    #[default]
    Unknown,
}

/// What the page found out about the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceFacts {
    /// The primary pointer.
    pub pointer: Pointer,
    /// `navigator.maxTouchPoints` (0 without a touch screen).
    pub max_touch_points: u32,
    /// `navigator.userAgentData.mobile` where the browser has UA client hints.
    pub ua_mobile: Option<bool>,
    /// Whether a video input device is listed (`None` when the list could not be read).
    pub has_camera: Option<bool>,
    /// The page was opened from a handoff link.
    pub opened_from_handoff: bool,
}

/// The project's handoff setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffMode {
    /// Never hand off.
    Off,
    /// Desktops without a camera hand off; desktops with one are offered it.
    #[default]
    Auto,
    /// Every desktop hands off (phones still capture directly).
    Always,
}

impl HandoffMode {
    /// The stable text form (`off`, `auto`, `always`).
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffMode::Off => "off",
            HandoffMode::Auto => "auto",
            HandoffMode::Always => "always",
        }
    }

    /// Reads the text form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "off" => HandoffMode::Off,
            "auto" => HandoffMode::Auto,
            "always" => HandoffMode::Always,
            _ => return None,
        })
    }
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Take the selfie on this device; no handoff offered.
    CaptureHere,
    /// Take it here, but offer "use your phone instead".
    OfferHandoff,
    /// Show only the handoff (QR code); no capture on this device.
    HandoffOnly,
}

impl Placement {
    /// The stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::CaptureHere => "capture_here",
            Placement::OfferHandoff => "offer_handoff",
            Placement::HandoffOnly => "handoff_only",
        }
    }
}

/// Whether the device is a phone or tablet (see the module docs).
pub fn is_phone_like(f: &DeviceFacts) -> bool {
    f.ua_mobile == Some(true) || (f.pointer == Pointer::Coarse && f.max_touch_points > 0)
}

/// Where to capture, given the project's mode and the device's facts.
pub fn placement(mode: HandoffMode, f: &DeviceFacts) -> Placement {
    if f.opened_from_handoff || is_phone_like(f) {
        return Placement::CaptureHere;
    }
    match mode {
        HandoffMode::Off => Placement::CaptureHere,
        HandoffMode::Always => Placement::HandoffOnly,
        HandoffMode::Auto if f.has_camera == Some(false) => Placement::HandoffOnly,
        HandoffMode::Auto => Placement::OfferHandoff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desktop() -> DeviceFacts {
        DeviceFacts {
            pointer: Pointer::Fine,
            max_touch_points: 0,
            ua_mobile: Some(false),
            has_camera: Some(true),
            opened_from_handoff: false,
        }
    }

    fn phone() -> DeviceFacts {
        DeviceFacts {
            pointer: Pointer::Coarse,
            max_touch_points: 5,
            ua_mobile: Some(true),
            has_camera: Some(true),
            opened_from_handoff: false,
        }
    }

    const MODES: [HandoffMode; 3] = [HandoffMode::Off, HandoffMode::Auto, HandoffMode::Always];

    #[test]
    fn desktops_by_mode() {
        let d = desktop();
        assert_eq!(placement(HandoffMode::Off, &d), Placement::CaptureHere);
        assert_eq!(placement(HandoffMode::Auto, &d), Placement::OfferHandoff);
        assert_eq!(placement(HandoffMode::Always, &d), Placement::HandoffOnly);
        let no_cam = DeviceFacts {
            has_camera: Some(false),
            ..d
        };
        assert_eq!(placement(HandoffMode::Off, &no_cam), Placement::CaptureHere);
        assert_eq!(
            placement(HandoffMode::Auto, &no_cam),
            Placement::HandoffOnly
        );
        assert_eq!(
            placement(HandoffMode::Always, &no_cam),
            Placement::HandoffOnly
        );
        // Unknown camera: the user may still try this one.
        let unknown = DeviceFacts {
            has_camera: None,
            ..d
        };
        assert_eq!(
            placement(HandoffMode::Auto, &unknown),
            Placement::OfferHandoff
        );
    }

    #[test]
    fn phones_always_capture_here() {
        let variants = [
            phone(),
            // No UA client hints (Safari, Firefox): pointer and touch decide.
            DeviceFacts {
                ua_mobile: None,
                ..phone()
            },
            // Android tablet: UA-CH says not mobile, but coarse pointer and touch.
            DeviceFacts {
                ua_mobile: Some(false),
                ..phone()
            },
            // A phone whose media query misreports, but UA-CH says mobile.
            DeviceFacts {
                pointer: Pointer::Unknown,
                max_touch_points: 0,
                ..phone()
            },
            // Without a listed camera it still does not hand off to another phone.
            DeviceFacts {
                has_camera: Some(false),
                ..phone()
            },
        ];
        for f in variants {
            assert!(is_phone_like(&f), "{f:?}");
            for m in MODES {
                assert_eq!(placement(m, &f), Placement::CaptureHere, "{m:?} {f:?}");
            }
        }
    }

    #[test]
    fn desktop_like_edge_cases() {
        let variants = [
            // Touchscreen laptop: trackpad is primary.
            DeviceFacts {
                max_touch_points: 10,
                ..desktop()
            },
            // A coarse pointer without touch (e.g. a TV remote or a game pad).
            DeviceFacts {
                pointer: Pointer::Coarse,
                ..desktop()
            },
            // Nothing known at all (e.g. a headless browser).
            DeviceFacts::default(),
            DeviceFacts {
                pointer: Pointer::None,
                ua_mobile: None,
                ..desktop()
            },
        ];
        for f in variants {
            assert!(!is_phone_like(&f), "{f:?}");
            assert_eq!(placement(HandoffMode::Always, &f), Placement::HandoffOnly);
        }
    }

    #[test]
    fn a_handoff_page_never_hands_off_again() {
        for f in [desktop(), phone(), DeviceFacts::default()] {
            let f = DeviceFacts {
                opened_from_handoff: true,
                has_camera: Some(false),
                ..f
            };
            for m in MODES {
                assert_eq!(placement(m, &f), Placement::CaptureHere);
            }
        }
    }

    #[test]
    fn text_forms() {
        for m in MODES {
            assert_eq!(HandoffMode::parse(m.as_str()), Some(m));
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.as_str())
            );
        }
        assert_eq!(HandoffMode::parse("ALWAYS"), None);
        assert_eq!(HandoffMode::default(), HandoffMode::Auto);
        for p in [
            Placement::CaptureHere,
            Placement::OfferHandoff,
            Placement::HandoffOnly,
        ] {
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        let f: DeviceFacts =
            serde_json::from_str(r#"{"pointer":"coarse","maxTouchPoints":5}"#).unwrap();
        assert_eq!(f.pointer, Pointer::Coarse);
        assert_eq!(f.ua_mobile, None);
        assert!(is_phone_like(&f));
    }
}
