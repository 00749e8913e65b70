// Mail in the recipient's language: every template key has a Korean ('ko') version, and a
// user whose profile locale is 'ko' is mailed it (the sender picks the recipient's locale, else
// 'en'), through the consumer, the sender and the mail catcher.

import { describe, expect, it } from "vitest";
import { signUp } from "../support/auth.ts";
import { consumeNotifications, drainEmail } from "../support/notifications.ts";
import { messageOf, searchMail } from "../support/mail.ts";
import { acceptedBidOrder } from "../support/marketplace.ts";

/** The mail to `to` whose subject is exactly `subject`, polling the catcher for up to 15 s. */
async function mailWithSubject(to: string, subject: string) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { messages } = await searchMail(`to:"${to}"`);
    const found = messages.find((m) => m.Subject === subject);
    if (found) return messageOf(found.ID);
    if (Date.now() > deadline) {
      throw new Error(
        `no mail "${subject}" to ${to}; got ${JSON.stringify(messages.map((m) => m.Subject))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("notification mail in Korean", () => {
  it("a tailor whose locale is ko gets the accepted bid in Korean", async () => {
    const designer = await signUp("ko-designer");
    const tailor = await signUp("ko-tailor", { locale: "ko" });
    const orderId = await acceptedBidOrder(designer, tailor, 9000);
    await consumeNotifications();
    expect(await drainEmail()).toEqual([]);

    const mail = await mailWithSubject(tailor.email, "입찰이 수락되었습니다");
    expect(mail.Text).toContain(`주문 ${orderId}이(가) 열렸습니다`);
    expect(mail.Text).toContain("이 알림 메일 수신 거부");
    expect(mail.ListUnsubscribe.Links).toHaveLength(1);
    // No English version went out beside it.
    const { messages } = await searchMail(`to:"${tailor.email}"`);
    expect(messages.map((m) => m.Subject)).not.toContain("Your bid was accepted");
  }, 120_000);
});
