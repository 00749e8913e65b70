// Read receipts race (two tabs, a late request): however concurrent marks of older and newer
// messages interleave, the receipt ends at the newest message marked, never behind it. Each
// round sends every mark at once, in a shuffled order, from two clients of the same user.

import { beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, signUp, type TestUser } from "../support/auth.ts";
import { type Client, client } from "../support/clients.ts";

describe("concurrent read receipts", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let secondTab: Client;
  let threadId: string;
  const messages: { id: string; seq: number }[] = [];

  beforeAll(async () => {
    [designer, tailor] = await Promise.all([signUp("race-designer"), signUp("race-tailor")]);
    secondTab = client();
    const signedIn = await secondTab.auth.signInWithPassword({
      email: tailor.email,
      password: PASSWORD,
    });
    if (signedIn.error) throw signedIn.error;
    const thread = await designer.client.rpc("create_thread", { participants: [tailor.id] });
    if (thread.error) throw thread.error;
    threadId = thread.data.id;
    for (let i = 0; i < 12; i++) {
      const posted = await designer.client.rpc("post_message", {
        thread_id: threadId,
        body: `Message ${i}`,
      });
      if (posted.error) throw posted.error;
      messages.push({ id: posted.data.id, seq: posted.data.seq });
    }
  }, 60_000);

  it("ends at the newest message marked in every round", async () => {
    for (let round = 0; round < 6; round++) {
      // Each round marks a prefix of the messages, a little longer than the last.
      const marked = messages.slice(0, 2 * round + 2);
      const order = [...marked].sort(() => Math.random() - 0.5);
      const answers = await Promise.all(
        order.map((m, i) =>
          (i % 2 ? secondTab : tailor.client).rpc("mark_thread_read", {
            thread_id: threadId,
            message_id: m.id,
          })
        ),
      );
      for (const answer of answers) expect(answer.error).toBeNull();
      const seat = await tailor.client.from("thread_participants").select("last_read_message_id")
        .eq("thread_id", threadId).eq("user_id", tailor.id).single();
      expect(seat.data!.last_read_message_id).toBe(marked.at(-1)!.id);
    }
    // And an old mark afterwards leaves it where it is.
    const late = await tailor.client.rpc("mark_thread_read", {
      thread_id: threadId,
      message_id: messages[0].id,
    });
    expect(late.data!.last_read_message_id).toBe(messages[11].id);
  });
});
