// htmx 2 settings for Bansō (a file, not an inline script: the pages' CSP allows no inline code).
// 422 (invalid form) and 409 (stale edit) carry the form or the item to show, so they are swapped
// like a success; other errors come back as a notice aimed at #toasts (HX-Retarget).
htmx.config.responseHandling = [
  { code: "204", swap: false },
  { code: "[23]..", swap: true },
  { code: "409", swap: true },
  { code: "422", swap: true },
  { code: "[45]..", swap: true, error: true },
  { code: "...", swap: false },
];
htmx.config.includeIndicatorStyles = false;
htmx.config.allowEval = false;
htmx.config.allowScriptTags = false;
htmx.config.selfRequestsOnly = true;
htmx.config.historyCacheSize = 0;
htmx.config.refreshOnHistoryMiss = true;
