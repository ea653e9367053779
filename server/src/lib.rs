//! liveform's reference backend: sessions, tokens, sealed uploads judged natively, results,
//! webhooks, and the static page. `liveform serve` runs it; the tests start it in-process.
//!
//! # HTTP API
//!
//! | method and path | what |
//! |---|---|
//! | `POST /api/sessions` `{"query":"pid=…&sid=…"}` | open a session (validates the liveform query, project, submission, token) |
//! | `POST /api/sessions/{id}/start` | the user pressed Start (spends a private-mode token) |
//! | `POST /api/sessions/{id}/upload` | the sealed selfie → `{authId, status, returnUrl}` |
//! | `POST/GET/DELETE /api/projects/{pid}/tokens[/{tokenId}]` | the Token API (`X-Api-Key`) |
//! | `GET /api/results/{authId}` | a stored result (`X-Api-Key`) |
//! | `POST /api/sessions/{id}/handoff` | the desktop asks for a handoff ticket (QR link) |
//! | `POST /api/handoff/claim` `{"ticket":"…"}` | the phone claims it, once → the session |
//! | `GET /api/sessions/{id}/handoff/events` | server-sent events: the phone's progress |
//! | `POST /api/sessions/{id}/handoff/failed` `{"code":"…"}` | the phone gave up |
//! | `GET /`, `/pkg/…`, `/models/…` | the page, the wasm package, the models |
//!
//! Every refusal is `{"error":{"code":"…","message":"…"}}` with a stable code.

pub mod app;
pub mod check;
pub mod config;
pub mod cors;
pub mod db;
pub mod decide;
pub mod error;
pub mod extract;
pub mod handoff;
pub mod instances;
pub mod limits;
pub mod linger;
pub mod load;
pub mod make_video;
pub mod outbox;
pub mod results;
pub mod serve;
pub mod sessions;
pub mod state;
pub mod static_files;
pub mod tokens_api;
pub mod upload;
pub mod util;
