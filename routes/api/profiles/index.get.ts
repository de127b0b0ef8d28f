import { defineEventHandler } from 'h3'
import { languageOf } from '#server/http/language'
import { useContext } from '#server/context'
import { listProfiles } from '#server/profiles/index'

export default defineEventHandler(async (event) => listProfiles((await useContext()).store, languageOf(event)))
