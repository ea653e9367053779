// A web developer's code against the installed package: type-checked by package.mjs with the
// package's own .d.ts files. The @ts-expect-error lines prove the types are not `any`.
import { captureSelfie, LiveformError, type LiveformResultDetail } from "liveform/capture";
import init, { modelFiles, version } from "liveform";

const el = document.createElement("liveform-capture");
el.setAttribute("pid", "demo");
const language: string = el.language;
el.addEventListener("result", (e) => {
  const status: "approved" | "rejected" = e.detail.status;
  const authId: string = e.detail.authId;
  console.log(status, authId, language);
});
el.addEventListener("progress", (e) => {
  const stage: "sdk" | "models" | "upload" = e.detail.stage;
  console.log(stage, e.detail.loaded, e.detail.total ?? "unknown");
});
el.addEventListener("error", (e) => {
  if (!e.detail.retryable) console.log(e.detail.code, e.detail.message);
  // @ts-expect-error: the error detail has no status
  console.log(e.detail.status);
});
el.addEventListener("capture", (e) => console.log(e.detail.sealedBytes));

async function run(): Promise<LiveformResultDetail | string> {
  await init();
  console.log(version(), modelFiles());
  try {
    return await captureSelfie(document.body, { pid: "demo", sid: "sub_demo", apiBase: "https://id.example" });
  } catch (e) {
    return e instanceof LiveformError ? e.code : "unknown";
  }
}
// @ts-expect-error: apiBase is a string
captureSelfie(document.body, { apiBase: 42 });
void run();
