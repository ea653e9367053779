// The liveform page: a <liveform-capture> element fed with this page's own query (pid, sid,
// tokenid, lang, encrypted=…, or handoff=… on a phone); `?api=` points it at a backend on
// another origin. Everything else is the element's (pkg/liveform-capture.js).
import "./pkg/liveform-capture.js";

const params = new URLSearchParams(location.search);
const capture = document.createElement("liveform-capture");
if (params.has("api")) capture.setAttribute("api-base", params.get("api"));
capture.setAttribute("query", location.search);
document.body.append(capture);
document.documentElement.lang = capture.language;
