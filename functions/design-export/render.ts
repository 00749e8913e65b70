// Pure rendering of a design: the export presets, the page a drawing lands on, and the SVG
// drawn from the pattern's geometry. No I/O: unit tests call these directly.
import { z } from "npm:zod@4.6.7";
import type { Pattern, PatternPiece, PatternUnits } from "./pattern.ts";

/** Paper sizes in millimetres, portrait (width, height). */
export const PAPER_SIZES = {
  a0: [841, 1189],
  a1: [594, 841],
  a2: [420, 594],
  a3: [297, 420],
  a4: [210, 297],
  a5: [148, 210],
  letter: [215.9, 279.4],
  legal: [215.9, 355.6],
  tabloid: [279.4, 431.8],
} as const satisfies Record<string, readonly [number, number]>;

export type PaperSize = keyof typeof PAPER_SIZES;

export const MAX_PNG_SIDE = 8000;
export const MAX_PNG_PIXELS = 40_000_000;
/** A PNG without width_px is drawn at 96 pixels per inch, shrunk to fit this on its long side. */
export const DEFAULT_PNG_MAX_SIDE = 4096;

export const presetSchema = z
  .object({
    size: z.enum(Object.keys(PAPER_SIZES) as [PaperSize, ...PaperSize[]]).optional(),
    width_px: z.number().int().min(16).max(MAX_PNG_SIDE).optional(),
    scale: z.number().min(0.1).max(10).optional(),
    background: z.union([
      z.literal("transparent"),
      z.string().regex(/^#[0-9a-fA-F]{6}$/, "must be a colour like #ffffff or transparent"),
    ]).optional(),
  })
  .strict()
  .refine((preset) => !(preset.size && preset.scale !== undefined), {
    message: "size fits the drawing to a page; scale cannot be combined with it",
    path: ["scale"],
  });

export type Preset = z.infer<typeof presetSchema>;

const MM_PER_UNIT: Record<PatternUnits, number> = { mm: 1, cm: 10, in: 25.4 };
const PX_PER_MM = 96 / 25.4;

/** Where the drawing goes: the viewBox in pattern units and the physical page size. */
export interface Page {
  viewBox: { x: number; y: number; width: number; height: number };
  /** The SVG's width and height, with their unit. */
  width: number;
  height: number;
  unit: PatternUnits;
  /** The page in millimetres, for pixel sizes. */
  widthMm: number;
  heightMm: number;
  background: string;
}

/**
 * The page for a pattern: its own canvas at true size times `scale`, or, with `size`, the
 * paper (turned to the drawing's orientation) with the canvas centred and fitted on it.
 */
export function pageFor(pattern: Pattern, preset: Preset = {}): Page {
  const background = preset.background ?? "#ffffff";
  if (!preset.size) {
    const scale = preset.scale ?? 1;
    const width = pattern.width * scale;
    const height = pattern.height * scale;
    const mm = MM_PER_UNIT[pattern.units];
    return {
      viewBox: { x: 0, y: 0, width: pattern.width, height: pattern.height },
      width,
      height,
      unit: pattern.units,
      widthMm: width * mm,
      heightMm: height * mm,
      background,
    };
  }
  const [short, long] = PAPER_SIZES[preset.size];
  const landscape = pattern.width > pattern.height;
  const [paperWidth, paperHeight] = landscape ? [long, short] : [short, long];
  const aspect = paperWidth / paperHeight;
  let viewBox;
  if (pattern.width / pattern.height > aspect) {
    const height = pattern.width / aspect;
    viewBox = { x: 0, y: -(height - pattern.height) / 2, width: pattern.width, height };
  } else {
    const width = pattern.height * aspect;
    viewBox = { x: -(width - pattern.width) / 2, y: 0, width, height: pattern.height };
  }
  return {
    viewBox,
    width: paperWidth,
    height: paperHeight,
    unit: "mm",
    widthMm: paperWidth,
    heightMm: paperHeight,
    background,
  };
}

export class PresetTooLargeError extends Error {}

/** The PNG's pixel size for a page: width_px if given, else 96 dpi shrunk to the default cap. */
export function pixelSize(page: Page, widthPx?: number): { width: number; height: number } {
  let width: number;
  let height: number;
  if (widthPx !== undefined) {
    width = widthPx;
    height = Math.max(1, Math.round(widthPx * page.heightMm / page.widthMm));
  } else {
    width = page.widthMm * PX_PER_MM;
    height = page.heightMm * PX_PER_MM;
    const shrink = Math.min(1, DEFAULT_PNG_MAX_SIDE / Math.max(width, height));
    width = Math.max(1, Math.round(width * shrink));
    height = Math.max(1, Math.round(height * shrink));
  }
  if (width > MAX_PNG_SIDE || height > MAX_PNG_SIDE || width * height > MAX_PNG_PIXELS) {
    throw new PresetTooLargeError(
      `the PNG would be ${width} x ${height} pixels; at most ${MAX_PNG_SIDE} on a side and ` +
        `${MAX_PNG_PIXELS} in all: choose a smaller preset.width_px`,
    );
  }
  return { width, height };
}

const XML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/** Text for XML content and attributes; characters XML 1.0 forbids are dropped. */
export function escapeXml(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
    .replace(/[&<>"']/g, (c) => XML_ESCAPES[c]);
}

/** A coordinate with at most 4 decimals and never in exponent notation. */
function num(value: number): string {
  const rounded = Math.round(value * 10_000) / 10_000;
  return Object.is(rounded, -0) ? "0" : rounded.toFixed(4).replace(/\.?0+$/, "");
}

function pointsAttribute(piece: PatternPiece): string {
  return piece.points.map(([x, y]) => `${num(x)},${num(y)}`).join(" ");
}

function labelPosition(piece: PatternPiece): [number, number] {
  const xs = piece.points.map(([x]) => x);
  const ys = piece.points.map(([, y]) => y);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

export interface SvgOptions {
  title: string;
}

/**
 * The pattern as an SVG document: one group per piece holding its name (<title> and a label)
 * and its outline, a polygon when closed (the default) or a polyline when open.
 */
export function renderSvg(pattern: Pattern, page: Page, options: SvgOptions): string {
  const { viewBox } = page;
  const span = Math.max(viewBox.width, viewBox.height);
  const stroke = num(span / 500);
  const fontSize = num(span / 60);
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" ` +
    `width="${num(page.width)}${page.unit}" height="${num(page.height)}${page.unit}" ` +
    `viewBox="${num(viewBox.x)} ${num(viewBox.y)} ${num(viewBox.width)} ${num(viewBox.height)}">`,
    `<title>${escapeXml(options.title)}</title>`,
  ];
  if (page.background !== "transparent") {
    lines.push(
      `<rect x="${num(viewBox.x)}" y="${num(viewBox.y)}" width="${num(viewBox.width)}" ` +
        `height="${num(viewBox.height)}" fill="${page.background}"/>`,
    );
  }
  lines.push(
    `<g fill="none" stroke="#1a1a1a" stroke-width="${stroke}" stroke-linejoin="round">`,
  );
  pattern.pieces.forEach((piece, index) => {
    const name = escapeXml(piece.name);
    const closed = piece.closed ?? true;
    const shape = closed ? "polygon" : "polyline";
    const fill = closed && piece.fill ? ` fill="${piece.fill}"` : "";
    const [lx, ly] = labelPosition(piece);
    lines.push(
      `<g id="piece-${index}" class="piece" data-name="${name}">`,
      `<title>${name}</title>`,
      `<${shape} points="${pointsAttribute(piece)}"${fill}/>`,
      `<text x="${num(lx)}" y="${num(ly)}" font-size="${fontSize}" font-family="sans-serif" ` +
        `text-anchor="middle" fill="#1a1a1a" stroke="none">${name}</text>`,
      `</g>`,
    );
  });
  lines.push(`</g>`, `</svg>`, "");
  return lines.join("\n");
}
