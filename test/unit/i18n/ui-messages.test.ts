import { baseCompile } from '@intlify/message-compiler'
import { describe, expect, it } from 'vitest'
import { escapeMessage, uiMessages } from '../../../scripts/ui-messages.mjs'

describe("the console's messages, compiled from locales/*.po", () => {
  const messages = uiMessages()

  it('escapes what vue-i18n gives meaning to, except {name} placeholders', () => {
    expect(escapeMessage('Mail admin@lab: {n} seats | $5 {}')).toBe("Mail admin{'@'}lab: {n} seats {'|'} {'$'}5 {'{'}{'}'}")
    expect(escapeMessage('{visible} of {total}')).toBe('{visible} of {total}')
  })

  it('holds the msgids the console uses, in English and Spanish, and none only the server uses', () => {
    expect(messages.en!['Sign in']).toBe('Sign in')
    expect(messages.es!['Sign in']).toBe('Iniciar sesión')
    expect(messages.es!['{n} selected']).toBe('{n} seleccionados')
    expect(Object.keys(messages.en!)).not.toContain('Please sign in')
    expect(Object.keys(messages.es!).sort()).toEqual(Object.keys(messages.en!).sort())
  })

  it('every message compiles for vue-i18n, with the placeholders of its msgid', () => {
    const problems: string[] = []
    for (const [lang, catalog] of Object.entries(messages)) {
      for (const [msgid, text] of Object.entries(catalog)) {
        baseCompile(text, { onError: (err) => problems.push(`${lang} ${JSON.stringify(msgid)}: ${err.message}`) })
        const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
        if (names(text).join() !== names(msgid).join()) problems.push(`${lang} ${JSON.stringify(msgid)}: placeholders differ`)
      }
    }
    expect(problems).toEqual([])
  })
})
