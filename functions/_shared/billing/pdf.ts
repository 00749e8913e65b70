// The one home of billing's PDF layout: a pdfkit document with Noto Sans KR embedded (Korean
// and Latin text render and extract back as text: pdfkit writes a ToUnicode map), A4, dated
// by the caller so the same data always gives the same bytes (pdfkit derives the file ID from
// the info dictionary and the font's subset tag from the font's id: nothing random or
// clock-dependent enters the file). Invoices (invoice-pdf.ts) and monthly statements
// (statement-pdf.ts) are laid out with it.
import { Buffer } from "node:buffer";
import PDFDocument from "npm:pdfkit@0.20.2";

/** Minor units as a decimal amount with thousands separators: 385000, 2 -> "3,850.00". */
export function formatAmount(amount: number, minorUnits: number): string {
  const negative = amount < 0;
  const digits = String(Math.abs(amount)).padStart(minorUnits + 1, "0");
  const whole = digits.slice(0, digits.length - minorUnits).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = minorUnits > 0 ? "." + digits.slice(digits.length - minorUnits) : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

/** A day as YYYY-MM-DD in UTC, as invoice numbers and statements count days. */
export const day = (iso: string) => new Date(iso).toISOString().slice(0, 10);

/**
 * A new billing document: `doc` to draw on (pdfkit's API), `done` the finished bytes once
 * `doc.end()` is called. `date` is written as the creation and modification date.
 */
export function billingDocument(
  { title, producer, date, font }: {
    title: string;
    producer: string;
    date: Date;
    font: Uint8Array;
  },
) {
  const doc = new PDFDocument({
    // The font given at construction: pdfkit then never loads its Helvetica AFM file from disk.
    font: Buffer.from(font),
    size: "A4",
    margin: 50,
    info: {
      Title: title,
      Producer: producer,
      Creator: producer,
      CreationDate: date,
      ModDate: date,
    },
  });
  const chunks: Uint8Array[] = [];
  const done = new Promise<Uint8Array>((resolve, reject) => {
    doc.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    doc.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    doc.on("error", reject);
  });
  return { doc, done };
}

let cachedFont: Uint8Array<ArrayBuffer> | undefined;

/** The embedded font, read once per instance (a static file of the functions that render). */
export async function billingFont(): Promise<Uint8Array<ArrayBuffer>> {
  cachedFont ??= await Deno.readFile(new URL("./fonts/NotoSansKR-Regular.ttf", import.meta.url));
  return cachedFont;
}
