// Every page module of the application. Each exports `routes`: [{path, title, roles, render,
// menu?, menuRole?, badge?}] — `roles: null` for pages anyone may open; `menu` puts the page in
// the menu of its role (the first of `roles`, or `menuRole`: a role or a list of roles); a
// role's home page is the first page of its menu.

import { routes as auth } from "./auth.js";
import { routes as publicPages } from "./public.js";
import { routes as pegawai } from "./pegawai.js";
import { routes as fasilitator } from "./fasilitator.js";
import { routes as admin } from "./admin.js";
import { routes as auditor } from "./auditor.js";
import { routes as bkd } from "./bkd.js";
import { routes as dataRequests } from "./datarequests.js";
import { routes as pacts } from "./pacts.js";

export const routes = [...publicPages, ...auth, ...pegawai, ...fasilitator, ...admin, ...auditor,
                       ...bkd, ...dataRequests, ...pacts];
