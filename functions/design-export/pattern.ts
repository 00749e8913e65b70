// The version-1 pattern document designs store, as a zod schema. The database is the
// enforcer (private.pattern_problem in the designs migration); this mirrors its rules so a
// function can type what it reads and refuse a bad document with the same limits.
import { z } from "npm:zod@4.6.7";

export const MAX_CANVAS = 100_000;
export const MAX_PIECES = 200;
export const MAX_POINTS_PER_PIECE = 5000;
export const MAX_POINTS = 50_000;

export const patternUnits = z.enum(["mm", "cm", "in"]);
export type PatternUnits = z.infer<typeof patternUnits>;

const point = z.tuple([z.number(), z.number()]);

const piece = z.object({
  name: z.string().min(1).max(80),
  points: z.array(point).min(2).max(MAX_POINTS_PER_PIECE),
  closed: z.boolean().optional(),
  fill: z.string().regex(/^#[0-9a-fA-F]{6}$/, "must be a colour like #a0b1c2").optional(),
});

export const patternSchema = z
  .object({
    version: z.literal(1),
    units: patternUnits,
    width: z.number().gt(0).max(MAX_CANVAS),
    height: z.number().gt(0).max(MAX_CANVAS),
    pieces: z.array(piece).min(1).max(MAX_PIECES),
    parameters: z.record(z.string(), z.number()).optional(),
  })
  .superRefine((pattern, ctx) => {
    let total = 0;
    pattern.pieces.forEach((p, pieceNo) => {
      total += p.points.length;
      p.points.forEach(([x, y], pointNo) => {
        if (
          x < -pattern.width || x > 2 * pattern.width || y < -pattern.height ||
          y > 2 * pattern.height
        ) {
          ctx.addIssue({
            code: "custom",
            path: ["pieces", pieceNo, "points", pointNo],
            message: `lies far outside the ${pattern.width} x ${pattern.height} canvas`,
          });
        }
      });
    });
    if (total > MAX_POINTS) {
      ctx.addIssue({
        code: "custom",
        path: ["pieces"],
        message: `a pattern may have at most ${MAX_POINTS} points in all`,
      });
    }
  });

export type Pattern = z.infer<typeof patternSchema>;
export type PatternPiece = Pattern["pieces"][number];
