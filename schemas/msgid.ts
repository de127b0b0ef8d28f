/**
 * Marks a string as a gettext msgid for extraction into locales/labvirt.pot, and returns it
 * unchanged: translation happens later, in the caller's language (the gettext `N_` convention).
 */
export const N_ = <T extends string>(msgid: T): T => msgid

/**
 * A number in a message, written in the reader's language when it is translated (`1,5` in
 * Spanish): `fractionDigits` decimals, or as many as it has.
 */
export interface Quantity {
  number: number
  fractionDigits?: number
}
