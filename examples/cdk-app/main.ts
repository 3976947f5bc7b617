#!/usr/bin/env node
import { buildExampleApp } from './example-app.js';

buildExampleApp();
