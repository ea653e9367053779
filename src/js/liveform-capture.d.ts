// Types of `liveform/capture`: the <liveform-capture> element and captureSelfie().

/** A stable, machine-readable error code (`missing_sid`, `attempts_exhausted`,
 * `camera_permission_denied`, `upload_failed`, `origin_not_allowed`, …; README, "Errors"). */
export type LiveformErrorCode = string;

/** `progress`: the SDK (wasm) download, the models' download, the upload's attempts. */
export interface LiveformProgressDetail {
  stage: "sdk" | "models" | "upload";
  /** Bytes so far (`sdk`, `models`) or the current attempt (`upload`). */
  loaded: number;
  /** Bytes in all or the attempts allowed; `null` when the server did not say. */
  total: number | null;
  /** `upload` only: `sending`, `retrying` or `offline`. */
  state?: "sending" | "retrying" | "offline";
}

/** `capture`: the selfie was chosen and sealed on the device; the upload starts. */
export interface LiveformCaptureDetail {
  sessionId: string;
  /** Which attempt produced it (1-based). */
  attempt: number;
  /** When it was taken, ms since the epoch. */
  capturedAt: number;
  /** The sealed envelope's size in bytes (the pixels never leave the device unsealed). */
  sealedBytes: number;
}

/** `result`: the backend's decision. */
export interface LiveformResultDetail {
  sessionId: string;
  /** The Auth ID the project's backend looks the result up with. */
  authId: string;
  status: "approved" | "rejected";
  /** The project's return URL with the result fields, or `null` when it has none. */
  returnUrl: string | null;
  /** True on the phone of a desktop → phone handoff (the desktop gets the result too). */
  onPhone: boolean;
}

/** `error`: an error screen is shown. When `retryable`, the user can try again from it. */
export interface LiveformErrorDetail {
  code: LiveformErrorCode;
  /** A human-readable message (localised when it comes from the catalogue). */
  message: string;
  retryable: boolean;
}

/** An error with a stable code, as captureSelfie() rejects with. */
export class LiveformError extends Error {
  readonly code: LiveformErrorCode;
  readonly retryable: boolean;
  constructor(code: LiveformErrorCode, message?: string, retryable?: boolean);
}

/** The element's events; `error` and `progress` are its own, not the DOM's of that name. */
export interface LiveformCaptureEventMap extends Omit<HTMLElementEventMap, "error" | "progress"> {
  progress: CustomEvent<LiveformProgressDetail>;
  capture: CustomEvent<LiveformCaptureDetail>;
  result: CustomEvent<LiveformResultDetail>;
  error: CustomEvent<LiveformErrorDetail>;
}

/**
 * `<liveform-capture>`. Attributes, read when it is connected: `pid`, `sid`, `tokenid`,
 * `lang`, `query` (a whole liveform query string instead), `api-base` (the backend; default
 * this page's origin), `wasm-url` (default: next to this module), `models-base` (default
 * `{api-base}/models/`).
 */
export class LiveformCaptureElement extends HTMLElement {
  /** The language it speaks (`en`, `ko`), chosen from `lang` or the browser. */
  readonly language: string;
  addEventListener<K extends keyof LiveformCaptureEventMap>(
    type: K,
    listener: (this: LiveformCaptureElement, ev: LiveformCaptureEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ): void;
}

export interface CaptureOptions {
  pid?: string;
  sid?: string;
  tokenid?: string;
  lang?: string;
  /** A whole liveform query string (`pid=…&sid=…&userid=…`, or `encrypted=…`). */
  query?: string;
  apiBase?: string;
  wasmUrl?: string;
  modelsBase?: string;
  onProgress?: (detail: LiveformProgressDetail) => void;
  onCapture?: (detail: LiveformCaptureDetail) => void;
  /** Aborting removes the element and rejects with code `aborted`. */
  signal?: AbortSignal;
}

/** Puts a `<liveform-capture>` in `container`; resolves with the result, rejects with a
 * LiveformError when the capture cannot go on. */
export function captureSelfie(container: ParentNode, options?: CaptureOptions): Promise<LiveformResultDetail>;

declare global {
  interface HTMLElementTagNameMap {
    "liveform-capture": LiveformCaptureElement;
  }
}
