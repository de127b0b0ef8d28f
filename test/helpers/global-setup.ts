import { execa } from 'execa'

/** Builds `.output/` once, so every integration test talks to the same built server a user runs. */
export default async function setup() {
  if (process.env.LABVIRT_SKIP_BUILD) return
  await execa('npx', ['nitro', 'build'], { stdio: 'inherit' })
}
