#!/usr/bin/env node
import {execute} from '@oclif/core'

import {loadOptions} from './oclif-options.js'

await execute({loadOptions: await loadOptions()})
