#!/usr/bin/env node
// Entry point installed as `ray-head-ha`; the compiled CLI lives in dist/.
import { main } from '../dist/cli.js';

main(process.argv.slice(2));
