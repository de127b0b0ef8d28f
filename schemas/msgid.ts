/**
 * Marks a string as a gettext msgid for extraction into locales/labvirt.pot, and returns it
 * unchanged: translation happens later, in the caller's language (the gettext `N_` convention).
 */
export const N_ = <T extends string>(msgid: T): T => msgid
