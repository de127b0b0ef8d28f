import { defineEventHandler } from 'h3'
import { languageOf } from '#server/http/language'
import { useContext } from '#server/context'
import { getProfile } from '#server/profiles/index'
import { readId } from '#server/http/input'

export default defineEventHandler(async (event) => getProfile((await useContext()).store, readId(event), languageOf(event)))
