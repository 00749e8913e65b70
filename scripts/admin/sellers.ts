// sellers pending | approve | reject, through review_seller_application(), the only way an
// application's status changes (approval opens the shop and grants the seller role).

import { z } from "zod";
import { emailsById } from "./accounts.ts";
import { type Command, defineCommand, uuid } from "./command.ts";
import type { AdminClient } from "./connection.ts";
import { unwrap } from "./errors.ts";
import { type Result, table, when } from "./output.ts";

const pending = defineCommand({
  name: "sellers pending",
  summary: "seller applications waiting for review, oldest first",
  input: z.object({}),
  async run({ client }) {
    const rows = unwrap(
      await client
        .from("seller_applications")
        .select(
          "id, user_id, shop_name, category, experience_level, monthly_revenue, platforms, created_at",
        )
        .eq("status", "pending_verification")
        .order("created_at"),
      "reading seller applications",
    );
    const emails = await emailsById(client, rows.map((row) => row.user_id));
    const applications = rows.map((row) => ({ ...row, email: emails.get(row.user_id) ?? null }));
    return {
      data: applications,
      text: () =>
        table(applications, [
          ["ID", (a) => a.id],
          ["APPLICANT", (a) => a.email ?? a.user_id],
          ["SHOP", (a) => a.shop_name],
          ["CATEGORY", (a) => a.category],
          ["REVENUE", (a) => a.monthly_revenue],
          ["APPLIED", (a) => when(a.created_at)],
        ], "no pending applications"),
    };
  },
});

async function review(
  client: AdminClient,
  applicationId: string,
  decision: "approved" | "rejected",
  reason?: string,
): Promise<Result> {
  const application = unwrap(
    await client.rpc("review_seller_application", {
      application_id: applicationId,
      decision,
      reason,
    }),
    `reviewing application ${applicationId}`,
  );
  const outcome = decision === "approved"
    ? "approved: shop opened, seller role granted"
    : `rejected: ${reason}`;
  return {
    data: application,
    text: () => `${application.shop_name} (${application.id}) ${outcome}`,
  };
}

const approve = defineCommand({
  name: "sellers approve",
  args: ["applicationId"],
  summary: "approve a pending application",
  input: z.object({ applicationId: uuid }),
  run: ({ client }, { applicationId }) => review(client, applicationId, "approved"),
});

const reject = defineCommand({
  name: "sellers reject",
  args: ["applicationId"],
  synopsis: "<applicationId> --reason TEXT",
  summary: "reject a pending application, telling the applicant why",
  input: z.object({
    applicationId: uuid,
    reason: z.string({ error: "is required" }).trim().min(1, "must say why"),
  }),
  run: ({ client }, { applicationId, reason }) => review(client, applicationId, "rejected", reason),
});

export const sellerCommands: Command[] = [pending, approve, reject];
