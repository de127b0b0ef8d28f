import { execa } from 'execa'

/** Builds once (server and CLI), so every integration test talks to what a user runs. */
export default async function setup() {
  if (process.env.LABVIRT_SKIP_BUILD) return
  await execa('npm', ['run', 'build', '--silent'], { stdio: 'inherit' })
}
