// The document viewer a verifier reads a request's documents in: a PDF drawn page by page onto
// canvases with the vendored pdf.js (web/vendor/pdfjs/, its worker a file of ours: the CSP's
// worker-src 'self'), an image shown from a blob URL. The file is fetched with the bearer token
// (api.blob), never opened by address, so no credential sits in a URL and nothing is cached.

import { api } from "./api.js";
import { busy, button, clear, h } from "./ui.js";

const PDFJS = "/assets/vendor/pdfjs/pdf.min.mjs";
const WORKER = "/assets/vendor/pdfjs/pdf.worker.min.mjs";
const MAX_PAGES = 30;

let pdfjs = null;
async function loadPdfjs() {
  if (!pdfjs) {
    pdfjs = await import(PDFJS);
    pdfjs.GlobalWorkerOptions.workerSrc = WORKER;
  }
  return pdfjs;
}

/** Draw `blob` (a PDF) into `holder`, one canvas per page, fitted to the holder's width. */
async function drawPdf(holder, blob, label, zoom) {
  const lib = await loadPdfjs();
  const data = new Uint8Array(await blob.arrayBuffer());
  // no font or script fetched from anywhere: the document is data, evaluated without eval
  const task = lib.getDocument({ data, isEvalSupported: false, useSystemFonts: true });
  const doc = await task.promise;
  const pages = Math.min(doc.numPages, MAX_PAGES);
  const width = Math.max(280, holder.clientWidth - 24);
  for (let n = 1; n <= pages; n += 1) {
    const page = await doc.getPage(n);
    const base = page.getViewport({ scale: 1 });
    const scale = (width / base.width) * zoom;
    const viewport = page.getViewport({ scale: scale * (window.devicePixelRatio || 1) });
    const canvas = h("canvas", { role: "img", "aria-label": `${label}, halaman ${n} dari ${doc.numPages}`,
                                 dataset: { page: String(n) } });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    canvas.style.width = `${Math.floor(viewport.width / (window.devicePixelRatio || 1))}px`;
    holder.append(canvas);
    await page.render({ canvasContext: canvas.getContext("2d"), viewport }).promise;
    canvas.dataset.drawn = "true";
  }
  if (doc.numPages > pages) {
    holder.append(h("p", { class: "viewer-note" }, `Hanya ${pages} halaman pertama yang ditampilkan `
      + `dari ${doc.numPages}; unduh berkasnya untuk membaca semuanya.`));
  }
  const count = doc.numPages;
  await task.destroy(); // the worker's copy of the document goes with it
  return count;
}

/**
 * A viewer for one document at `path` (an API download route), with zoom and download.
 * Returns the element; the document loads at once. `label` names it for screen readers.
 */
export function documentViewer(path, { label = "Dokumen", fileName = "dokumen" } = {}) {
  let blob = null;
  let zoom = 1;
  let url = null;
  const canvasHolder = h("div", { class: "viewer", tabindex: "0", role: "region", "aria-label": `Pratinjau ${label}` });
  const status = h("p", { class: "viewer-status small muted", "aria-live": "polite" });
  const draw = async () => {
    clear(canvasHolder);
    if (url) { URL.revokeObjectURL(url); url = null; }
    if (blob.type.startsWith("image/")) {
      url = URL.createObjectURL(blob);
      const img = h("img", { src: url, alt: label });
      img.style.width = `${Math.round(zoom * 100)}%`;
      canvasHolder.append(img);
      status.textContent = `Gambar (${blob.type}), ${Math.round(blob.size / 1024)} KB.`;
      return;
    }
    const pages = await drawPdf(canvasHolder, blob, label, zoom);
    status.textContent = `PDF, ${pages} halaman, ${Math.round(blob.size / 1024)} KB.`;
  };
  const controls = h("div", { class: "viewer-tools actions" },
    button("Perkecil", () => { zoom = Math.max(0.5, zoom - 0.25); draw(); }, { "aria-label": `Perkecil ${label}` }),
    button("Perbesar", () => { zoom = Math.min(3, zoom + 0.25); draw(); }, { "aria-label": `Perbesar ${label}` }),
    button("Unduh", () => {
      if (!blob) return;
      const href = URL.createObjectURL(blob);
      const a = h("a", { href, download: fileName });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(href), 10000);
    }, { "aria-label": `Unduh ${label}` }));
  const wrap = h("div", { class: "viewer-wrap" }, controls, canvasHolder, status);
  busy(wrap, async () => {
    blob = await api.blob(path);
    await draw();
  }, "Memuat dokumen…").catch(() => { /* busy shows the problem in the viewer */ });
  return wrap;
}
