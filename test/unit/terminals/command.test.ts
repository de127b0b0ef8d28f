import { describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { commandLine, fillArgs, placeholderValues, rdpFile } from '#server/terminals/command'

// What the launcher does with the text answer: `eval "set -- $line"`, then runs "$@". Here the
// shell prints each argument NUL-terminated instead, so the test sees the argv exactly.
async function argvOf(line: string, shell = ['sh']): Promise<string[]> {
  const { stdout } = await execa(shell[0]!, [...shell.slice(1), '-c', 'eval "set -- $0"; printf "%s\\0" "$@"', line], { stripFinalNewline: false })
  return stdout.split('\0').slice(0, -1)
}

const seat = { terminal: 'pc01', lab: 'aula', seat: 'aula-2', host: '10.0.5.12', port: 3389 }

describe('placeholders', () => {
  it('fills the seat values and the terminal parameters inside argv elements', () => {
    const args = ['/v:%HOST%:%PORT%', '/u:%USER%', '/title:%LAB% %SEAT% %TERMINAL%', '%HOST%%PORT%', 'plain']
    expect(fillArgs(args, placeholderValues(seat, { USER: 'ana' }))).toEqual([
      '/v:10.0.5.12:3389', '/u:ana', '/title:aula aula-2 pc01', '10.0.5.123389', 'plain',
    ])
  })

  it('leaves unknown names as written, and never substitutes twice', () => {
    const values = placeholderValues(seat, { USER: '%HOST%', NAME: '%' })
    expect(fillArgs(['%USER%', '%USERNAME%', '%NAME%PORT%', '%lower%', '100%'], values)).toEqual(['%HOST%', '%USERNAME%', '%PORT%', '%lower%', '100%'])
  })

  it('a parameter cannot replace the seat values', () => {
    expect(fillArgs(['%HOST%', '%PORT%', '%SEAT%'], placeholderValues(seat, { HOST: 'evil', PORT: '1', SEAT: 'x' }))).toEqual(['10.0.5.12', '3389', 'aula-2'])
  })
})

describe('the text answer', () => {
  const hostile = [`o'brien "x" $(id) y`, '`id`', '$HOME', 'a\\b', '', ' lead and trail ', "''", '*', ';rm -rf /', '%HOST%', 'ñandú 🙂', '-x', '\'"\'"']

  it.each(['sh', 'bash', 'busybox sh'])('keeps every argument intact through %s', async (shell) => {
    const line = commandLine({ program: '/usr/bin/xfreerdp', argv: hostile })
    expect(line.endsWith('\n')).toBe(true)
    expect(line.slice(0, -1)).not.toContain('\n')
    expect(await argvOf(line, shell.split(' '))).toEqual(['/usr/bin/xfreerdp', ...hostile])
  })

  it('is one line of quoted words', async () => {
    expect(commandLine({ program: 'xfreerdp', argv: ['/v:h:1', "it's"] })).toBe(`'xfreerdp' '/v:h:1' 'it'\\''s'\n`)
    expect(await argvOf(commandLine({ program: 'p', argv: [] }))).toEqual(['p'])
  })
})

describe('the .rdp answer', () => {
  it('names the address, full screen, and the user when there is one', () => {
    expect(rdpFile(seat, { USER: 'ana' })).toBe('full address:s:10.0.5.12:3389\r\nscreen mode id:i:2\r\nusername:s:ana\r\n')
    expect(rdpFile(seat)).toBe('full address:s:10.0.5.12:3389\r\nscreen mode id:i:2\r\n')
  })

  it('brackets an IPv6 host', () => {
    expect(rdpFile({ host: 'fd00::5', port: 3389 })).toContain('full address:s:[fd00::5]:3389\r\n')
  })
})
