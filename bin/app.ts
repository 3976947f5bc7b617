#!/usr/bin/env node
import { buildApp } from '../infra/index.js';

buildApp();
