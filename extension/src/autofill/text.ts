/**
 * The content script's words. browser.i18n catalogues (_locales/<lang>/messages.json) provide them;
 * the English here is only the fallback for a key the catalogue lacks, so the button never goes blank.
 */
export const AUTOFILL_TEXT = {
  autofillFill: 'Fill backup code #$1',
  autofillFilling: 'Filling backup code…',
  autofillFilled: 'Filled backup code #$1',
  autofillLocked: 'Unlock SpareKey from the toolbar, then click again',
  autofillNoneLeft: 'No kept backup codes left: generate a new set in SpareKey',
  autofillFailed: 'This field did not take the code: paste it instead',
  autofillOtherUser: 'Kept codes belong to $1, not $2',
} as const;

export type AutofillTextKey = keyof typeof AUTOFILL_TEXT;

export type Translate = (key: AutofillTextKey, ...substitutions: (string | number)[]) => string;

/** `getMessage` is browser.i18n.getMessage; an empty answer means the key is missing. */
export function translator(getMessage: (key: string, substitutions?: string[]) => string): Translate {
  return (key, ...values) => {
    const substitutions = values.map(String);
    return (
      getMessage(key, substitutions.length > 0 ? substitutions : undefined) ||
      // A callback, not a replacement string: a "$&" in a username must come out as typed.
      AUTOFILL_TEXT[key].replace(/\$(\d)/g, (_, n: string) => substitutions[Number(n) - 1] ?? '')
    );
  };
}
