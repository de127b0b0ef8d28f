/** POSIX single quotes: nothing inside is special but the quote itself. */
export const shq = (s: string) => "'" + s.replaceAll("'", "'\\''") + "'"
