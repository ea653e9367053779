// Every string the page shows, one catalogue per language. Codes (hints, error codes) come
// from the wasm module and the backend; the page only looks them up.
export const CATALOGUES = {
  en: {
    loading: "Loading…",
    start_intro: "We will take a selfie to confirm it is you. Find good light and look at the camera.",
    start: "Start",
    cancel: "Cancel",
    uploading: "Sending your selfie securely…",
    continue: "Continue",
    error_title: "We could not continue",
    error_code: "Error code:",
    try_again: "Try again",
    attempt: "Attempt {n} of {max}",
    result_approved_title: "You're verified",
    result_approved_text: "Thank you. Your selfie matched.",
    result_rejected_title: "We couldn't verify you",
    result_rejected_text: "Your selfie could not be verified.",
    upload_sending: "Sending…",
    upload_retrying: "Connection problem, retrying…",
    upload_offline: "You are offline. We will send it when you are back online.",
    hint: {
      starting_camera: "Starting the camera…",
      no_face: "We can't see your face",
      multiple_faces: "Only one face, please",
      move_closer: "Move closer",
      move_back: "Move back a little",
      centre_face: "Centre your face in the oval",
      too_dark: "It's too dark — find more light",
      too_bright: "It's too bright — avoid direct light",
      hold_still: "Hold still",
      low_contrast: "Find even light on your face",
      remove_mask: "Please remove your mask",
      remove_sunglasses: "Please remove your sunglasses",
      remove_hand: "Move your hand away from your face",
      remove_hat: "Please remove your hat or helmet",
      look_straight: "Look straight at the camera",
      turn_left: "Slowly turn your head to the left",
      turn_right: "Slowly turn your head to the right",
      look_up: "Look up slightly",
      blink: "Blink",
      captured: "Got it!",
      paused: "Paused — come back to this tab to continue",
    },
    error: {
      missing_pid: "This link is incomplete (no project).",
      missing_sid: "This link is incomplete (no submission).",
      pid_unknown: "This verification link is not valid.",
      project_closed: "This verification service is closed.",
      sid_unknown: "We could not find your earlier verification.",
      sid_not_approved: "Your earlier verification is not approved, so this check cannot run.",
      plain_params_refused: "This link must be encrypted.",
      token_unknown: "This link is not valid.",
      token_spent: "This link has already been used.",
      token_expired: "This link has expired.",
      token_deleted: "This link is no longer valid.",
      missing_tokenid: "This link needs an access token.",
      camera_permission_denied: "Camera access was denied. Allow the camera in your browser settings, then try again.",
      camera_not_found: "No camera was found on this device.",
      camera_in_use: "The camera is being used by another app. Close it and try again.",
      camera_constraints: "Your camera does not support the required resolution.",
      camera_failed: "The camera could not be started.",
      camera_ended: "The camera stopped (was it unplugged?).",
      attempts_exhausted: "We could not take a usable selfie after 3 attempts.",
      upload_failed: "We could not send your selfie. Check your connection and try again.",
      session_expired: "This session has expired. Please start again.",
      network: "We could not reach the server.",
      unknown: "Something went wrong.",
    },
  },
  ko: {
    loading: "불러오는 중…",
    start_intro: "본인 확인을 위해 셀피를 촬영합니다. 밝은 곳에서 카메라를 바라봐 주세요.",
    start: "시작",
    cancel: "취소",
    uploading: "셀피를 안전하게 전송하는 중…",
    continue: "계속",
    error_title: "진행할 수 없습니다",
    error_code: "오류 코드:",
    try_again: "다시 시도",
    attempt: "{max}회 중 {n}번째 시도",
    result_approved_title: "본인 확인이 완료되었습니다",
    result_approved_text: "감사합니다. 셀피가 일치합니다.",
    result_rejected_title: "본인 확인에 실패했습니다",
    result_rejected_text: "셀피로 본인을 확인할 수 없었습니다.",
    upload_sending: "전송 중…",
    upload_retrying: "연결 문제로 다시 시도하는 중…",
    upload_offline: "오프라인 상태입니다. 다시 연결되면 전송합니다.",
    hint: {
      starting_camera: "카메라를 켜는 중…",
      no_face: "얼굴이 보이지 않습니다",
      multiple_faces: "한 사람만 화면에 나오게 해 주세요",
      move_closer: "조금 더 가까이 와 주세요",
      move_back: "조금 뒤로 물러나 주세요",
      centre_face: "얼굴을 타원 안에 맞춰 주세요",
      too_dark: "너무 어둡습니다. 밝은 곳으로 이동해 주세요",
      too_bright: "너무 밝습니다. 직사광선을 피해 주세요",
      hold_still: "움직이지 말아 주세요",
      low_contrast: "얼굴에 고른 빛이 들게 해 주세요",
      remove_mask: "마스크를 벗어 주세요",
      remove_sunglasses: "선글라스를 벗어 주세요",
      remove_hand: "얼굴에서 손을 치워 주세요",
      remove_hat: "모자나 헬멧을 벗어 주세요",
      look_straight: "카메라를 정면으로 바라봐 주세요",
      turn_left: "고개를 천천히 왼쪽으로 돌려 주세요",
      turn_right: "고개를 천천히 오른쪽으로 돌려 주세요",
      look_up: "고개를 살짝 들어 주세요",
      blink: "눈을 깜빡여 주세요",
      captured: "촬영되었습니다!",
      paused: "일시 중지됨 — 이 탭으로 돌아오면 계속합니다",
    },
    error: {
      missing_pid: "링크가 올바르지 않습니다(프로젝트 없음).",
      missing_sid: "링크가 올바르지 않습니다(제출 ID 없음).",
      pid_unknown: "유효하지 않은 인증 링크입니다.",
      project_closed: "이 인증 서비스는 종료되었습니다.",
      sid_unknown: "이전 인증 내역을 찾을 수 없습니다.",
      sid_not_approved: "이전 인증이 승인되지 않아 진행할 수 없습니다.",
      plain_params_refused: "암호화된 링크만 사용할 수 있습니다.",
      token_unknown: "유효하지 않은 링크입니다.",
      token_spent: "이미 사용된 링크입니다.",
      token_expired: "만료된 링크입니다.",
      token_deleted: "더 이상 유효하지 않은 링크입니다.",
      missing_tokenid: "이 링크에는 접근 토큰이 필요합니다.",
      camera_permission_denied: "카메라 권한이 거부되었습니다. 브라우저 설정에서 카메라를 허용한 뒤 다시 시도해 주세요.",
      camera_not_found: "이 기기에서 카메라를 찾을 수 없습니다.",
      camera_in_use: "다른 앱이 카메라를 사용 중입니다. 앱을 닫고 다시 시도해 주세요.",
      camera_constraints: "카메라가 필요한 해상도를 지원하지 않습니다.",
      camera_failed: "카메라를 시작할 수 없습니다.",
      camera_ended: "카메라가 중지되었습니다(연결이 끊겼나요?).",
      attempts_exhausted: "3번 시도했지만 사용할 수 있는 셀피를 촬영하지 못했습니다.",
      upload_failed: "셀피를 전송하지 못했습니다. 연결을 확인하고 다시 시도해 주세요.",
      session_expired: "세션이 만료되었습니다. 처음부터 다시 시작해 주세요.",
      network: "서버에 연결할 수 없습니다.",
      unknown: "문제가 발생했습니다.",
    },
  },
};

/** The language: `lang` URL parameter, else the browser's, else English. */
export function chooseLanguage(params, navigatorLanguages) {
  const wanted = [params.get("lang"), ...(navigatorLanguages || [])].filter(Boolean);
  for (const tag of wanted) {
    const base = tag.toLowerCase().split("-")[0];
    if (CATALOGUES[base]) return base;
  }
  return "en";
}

/** A lookup function for one language, falling back to English, then to the key. */
export function translator(lang) {
  const cat = CATALOGUES[lang] || CATALOGUES.en;
  return (path, vars = {}) => {
    const get = (c) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), c);
    let s = get(cat) ?? get(CATALOGUES.en) ?? path;
    for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, v);
    return s;
  };
}
