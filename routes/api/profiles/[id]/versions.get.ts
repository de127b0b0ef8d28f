import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listVersions } from '#server/profiles/versions'
import { readId } from '#server/http/input'

export default defineEventHandler(async (event) => listVersions(await useContext(), readId(event)))
