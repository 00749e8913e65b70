// SVG to PNG with resvg (Rust, compiled to Wasm). The Wasm file ships in the npm package; it
// is read from where Deno resolved the package, as Supabase's docs load magick-wasm, which
// works under `supabase functions serve`, on hosted Edge Functions and in the local stack.
// resvg is given no fonts, so piece labels (SVG <text>) are left out of PNGs.
import { initWasm, Resvg } from "npm:@resvg/resvg-wasm@2.6.2";

let ready: Promise<void> | null = null;

function loadResvg(): Promise<void> {
  ready ??= (async () => {
    const wasm = await Deno.readFile(
      new URL("index_bg.wasm", import.meta.resolve("npm:@resvg/resvg-wasm@2.6.2")),
    );
    await initWasm(wasm);
  })().catch((err) => {
    ready = null; // let a later request try again
    throw err;
  });
  return ready;
}

export interface Png {
  bytes: Uint8Array;
  width: number;
  height: number;
}

/** Rasterises an SVG to a PNG `width` pixels wide (the height follows the SVG's aspect). */
export async function svgToPng(svg: string, width: number): Promise<Png> {
  await loadResvg();
  const resvg = new Resvg(svg, {
    fitTo: { mode: "width", value: width },
    font: { loadSystemFonts: false },
  });
  try {
    const image = resvg.render();
    try {
      return { bytes: image.asPng(), width: image.width, height: image.height };
    } finally {
      image.free();
    }
  } finally {
    resvg.free();
  }
}
