// Every page module of the application. Each exports `routes`: [{path, title, roles, render,
// menu?, menuRole?, badge?}] — `roles: null` for pages anyone may open; `menu` puts the page in
// the menu of its role (the first of `roles`, or `menuRole`).

import { routes as auth } from "./auth.js";
import { routes as pegawai } from "./pegawai.js";
import { routes as publicPages } from "./public.js";

export const routes = [...publicPages, ...auth, ...pegawai];
