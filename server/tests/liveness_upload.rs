//! Active liveness end to end on the real server: the device performs the challenge the
//! server issued at Start and uploads its track with key frames; the server re-derives the
//! challenge from its own seed, re-verifies the track, re-runs the mesh on the key frames and
//! measures the texture parallax. A replayed track of another challenge and a track whose
//! key frames show something else are rejected.

mod common;
#[path = "../../tests/common/mod.rs"]
mod sdk;

use common::*;
use liveform::frame::Frame;
use liveform::liveness::challenge::{challenge_from_seed, ChallengeConfig, Step};
use liveform::liveness::rng::SplitMix64;
use liveform::liveness::LivenessTrack;
use liveform::upload::EncodedFrame;
use liveform::vision::{analyze, AnalyzeOptions};
use sdk::scenes::{camera_noise, pose_path, Scene};
use serde_json::Value;

/// Opens and starts sessions until the issued challenge has no blink (a rendered head
/// cannot blink); returns the session body and the steps.
async fn session_with_renderable_challenge(srv: &TestServer) -> (Value, Vec<Step>) {
    for _ in 0..40 {
        let r = srv.create_session("pid=p1&sid=sub_ok").await;
        assert_eq!(r.status, 201, "{}", r.text);
        let s = srv.start(r.body["sessionId"].as_str().unwrap()).await;
        let seed = hex::decode(s.body["challengeSeed"].as_str().unwrap()).unwrap();
        let steps = challenge_from_seed(&seed, &ChallengeConfig::default()).unwrap();
        if !steps.contains(&Step::Blink) {
            return (r.body, steps);
        }
    }
    panic!("no blink-free challenge in 40 sessions");
}

/// What the device uploads: the best frame, key frames and the track.
struct Capture {
    best: EncodedFrame,
    key_frames: Vec<EncodedFrame>,
    track: LivenessTrack,
}

/// Records a capture as the page does: the mesh on every frame into the track; key frames at
/// the start and at the extremes of yaw and pitch. `shown` renders the pixels that are
/// uploaded, `tracked` those the track is measured on (the same for an honest device).
fn capture(
    steps: &[Step],
    tracked: impl Fn(f32, f32) -> Frame,
    shown: impl Fn(f32, f32) -> Frame,
) -> Capture {
    let models = sdk::models();
    let opts = AnalyzeOptions {
        keep_landmarks: true,
        classifiers: false,
        ..AnalyzeOptions::default()
    };
    let mut rng = SplitMix64::new(7);
    let mut track = LivenessTrack::default();
    let path = pose_path(steps, 10.0, 30.0);
    let mut frames = Vec::new();
    for &(t, yaw, pitch) in &path {
        let f = camera_noise(&tracked(yaw, pitch), 2.0, &mut rng);
        let a = analyze(models, &f.view().unwrap(), &opts).unwrap();
        track.record(t, a.face.as_ref().expect("a face in every frame"));
        frames.push((t, yaw, pitch));
    }
    let pick = |key: &dyn Fn(&(f64, f32, f32)) -> f32| {
        *frames
            .iter()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .unwrap()
    };
    let chosen = [
        frames[0],
        pick(&|f| f.1),
        pick(&|f| -f.1),
        pick(&|f| f.2.abs()),
    ];
    let encode = |(t, yaw, pitch): (f64, f32, f32)| {
        let f = camera_noise(&shown(yaw, pitch), 2.0, &mut SplitMix64::new(t as u64));
        EncodedFrame::new(f.to_jpeg(90).unwrap(), t as u64)
    };
    Capture {
        best: encode(frames[0]),
        key_frames: chosen.iter().map(|c| encode(*c)).collect(),
        track,
    }
}

async fn upload(srv: &TestServer, session: &Value, c: Capture) -> Value {
    let mut p = payload(c.best.jpeg.clone(), true);
    p.key_frames = c.key_frames;
    p.liveness = Some(c.track);
    let captured = now_ms();
    let sealed = seal(session, "p1", captured, &p);
    let r = srv
        .upload_raw(
            session["sessionId"].as_str().unwrap(),
            "k",
            captured,
            sealed,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let res = srv
        .get(
            &format!("/api/results/{}", r.body["authId"].as_str().unwrap()),
            Some(&format!("{API_KEY}-p1")),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.body
}

fn reasons(result: &Value) -> Vec<String> {
    result["liveness"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reverifies_the_challenge_the_3d_evidence_and_the_key_frames() {
    let mut p = project("p1");
    p.policy = Some(serde_json::json!({ "livenessMode": "active" }));
    let srv = spawn(config(vec![p])).await;
    let scene = Scene::new(sdk::models(), &sdk::photo(REFERENCE_PHOTO));
    let print = |y: f32, p: f32| scene.flat(y * 1.5, p * 1.5);
    let head = |y: f32, p: f32| scene.head(y, p);

    // An honest device: the registered person's (rendered) head performs the challenge.
    let (session, steps) = session_with_renderable_challenge(&srv).await;
    let r = upload(&srv, &session, capture(&steps, head, head)).await;
    let live = &r["liveness"];
    assert_eq!(live["passed"], true, "{live}");
    assert_eq!(live["signals"]["challenge"]["passed"], true, "{live}");
    assert_eq!(live["signals"]["texture"]["verdict"], "three_d", "{live}");
    assert_eq!(live["signals"]["key_frames"]["mismatched"], 0, "{live}");
    assert_eq!(live["signals"]["key_frames"]["checked"], 4, "{live}");
    assert_eq!(r["status"], "approved", "{r}");

    // A track recorded for another challenge (a replay of an earlier session).
    let (session, steps) = session_with_renderable_challenge(&srv).await;
    let other: Vec<Step> = match steps[0] {
        Step::TurnLeft => vec![Step::TurnRight, Step::LookUp, Step::TurnLeft],
        _ => vec![Step::TurnLeft, Step::LookUp, Step::TurnRight],
    };
    let r = upload(&srv, &session, capture(&other, head, head)).await;
    assert_eq!(r["liveness"]["passed"], false);
    assert!(reasons(&r).contains(&"challenge_failed".into()), "{r}");
    assert_eq!(r["status"], "rejected");

    // A track measured on a live head, uploaded with the pixels of a print: the key frames
    // betray it.
    let (session, steps) = session_with_renderable_challenge(&srv).await;
    let r = upload(&srv, &session, capture(&steps, head, print)).await;
    assert_eq!(r["liveness"]["passed"], false);
    assert!(reasons(&r).contains(&"track_mismatch".into()), "{r}");

    // A print throughout (track and pixels agree): flat — or, when the mesh sees too little
    // turn of it to measure (a challenge with one turn direction), no 3-D evidence at all.
    let (session, steps) = session_with_renderable_challenge(&srv).await;
    let r = upload(&srv, &session, capture(&steps, print, print)).await;
    assert_eq!(r["liveness"]["passed"], false);
    let why = reasons(&r);
    assert!(
        why.contains(&"flat_3d".into()) || why.contains(&"no_3d_evidence".into()),
        "{r}"
    );
}
