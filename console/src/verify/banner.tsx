// Placeholder until browser verification is built (issue 15): warns when the server's verifier key is not the pinned one.
export function VerifierKeyBanner() {
  return null;
}
