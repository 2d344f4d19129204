/*
 * Progressive enhancement for ml-forms. Without this file every form still works as a plain post
 * that re-renders the page. With it, forms submit with fetch to the JSON API and update their card
 * in place; the image card gets drag-and-drop, paste and a preview; "Try" buttons fill examples.
 * Loaded as an external script (CSP: script-src 'self'); it never writes inline styles or HTML
 * built from user text: all text goes through textContent.
 */
(function () {
  'use strict';

  var ACCEPTED_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];
  var NETWORK_ERROR = 'Could not reach the server. Check your connection and try again.';
  var SVG_NS = 'http://www.w3.org/2000/svg';

  function $(id) {
    return document.getElementById(id);
  }

  /* ---- Regression chart: a mirror of regressionChart() in src/http/view.ts -------------------
   * tests/e2e/page.test.ts checks that this draws the same SVG as the server for the same x. */
  var CHART = { width: 320, height: 200, left: 52, right: 12, top: 12, bottom: 30 };

  function r1(v) {
    return Math.round(v * 10) / 10;
  }

  function niceStep(span, count) {
    var raw = span / (count || 4);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  }

  function tickLabel(v, step) {
    if (v === 0) return '0';
    if (Math.abs(v) >= 1e5 || step < 1e-3) return v.toExponential(1).replace('e+', 'e');
    var decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return v.toFixed(decimals);
  }

  function niceDomain(lo, hi) {
    if (!(hi > lo)) {
      var pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
      lo -= pad;
      hi += pad;
    }
    var step = niceStep(hi - lo);
    return { lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step, step: step };
  }

  function ticks(d, toPos) {
    var out = [];
    var n = Math.round((d.hi - d.lo) / d.step);
    for (var i = 0; i <= n; i++) {
      var v = d.lo + i * d.step;
      out.push({ pos: r1(toPos(v)), label: tickLabel(Math.abs(v) < d.step * 1e-9 ? 0 : v, d.step) });
    }
    return out;
  }

  /** formatNumber() of src/predictors/regression.ts. */
  function formatNumber(v) {
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e9 || a < 1e-2)) return v.toPrecision(6);
    return v.toFixed(2);
  }

  function regressionChart(fit, range, point) {
    var slope = fit.slope;
    var intercept = fit.intercept;
    var at = function (x) {
      return slope * x + intercept;
    };
    var has = point !== undefined && Number.isFinite(point.x) && Number.isFinite(point.y);
    var xd = niceDomain(has ? Math.min(range[0], point.x) : range[0], has ? Math.max(range[1], point.x) : range[1]);
    var ys = [at(xd.lo), at(xd.hi)];
    if (has) ys.push(point.y);
    var yd = niceDomain(Math.min.apply(null, ys), Math.max.apply(null, ys));
    var px = function (x) {
      return CHART.left + ((x - xd.lo) / (xd.hi - xd.lo)) * (CHART.width - CHART.left - CHART.right);
    };
    var py = function (y) {
      return CHART.height - CHART.bottom - ((y - yd.lo) / (yd.hi - yd.lo)) * (CHART.height - CHART.top - CHART.bottom);
    };
    var bandX = px(range[0]);
    var equation =
      'y = ' + slope.toFixed(3) + 'x ' + (intercept < 0 ? '−' : '+') + ' ' + Math.abs(intercept).toFixed(3);
    var caption =
      'Fitted line ' + equation + '. Shaded: the training range, x from ' + range[0] + ' to ' + range[1] + '.';
    var note = null;
    if (has) {
      caption += ' Your point: x = ' + point.x + ', predicted ' + formatNumber(point.y) + '.';
      if (point.x < range[0] || point.x > range[1]) {
        note =
          'x = ' +
          point.x +
          ' is outside the training range (' +
          range[0] +
          ' to ' +
          range[1] +
          '): the line is extrapolated there, so treat the prediction with care.';
      }
    }
    return {
      band: {
        x: r1(bandX),
        y: CHART.top,
        width: r1(Math.max(1, px(range[1]) - bandX)),
        height: CHART.height - CHART.top - CHART.bottom,
      },
      xTicks: ticks(xd, px),
      yTicks: ticks(yd, py),
      line: { x1: r1(px(xd.lo)), y1: r1(py(at(xd.lo))), x2: r1(px(xd.hi)), y2: r1(py(at(xd.hi))) },
      point: has ? { cx: r1(px(point.x)), cy: r1(py(point.y)) } : null,
      caption: caption,
      note: note,
    };
  }

  /** Same elements, attributes and order as views/partials/chart.ejs. */
  function svgEl(tag, cls, attrs, text) {
    var el = document.createElementNS(SVG_NS, tag);
    el.setAttribute('class', cls);
    for (var i = 0; i < attrs.length; i += 2) el.setAttribute(attrs[i], String(attrs[i + 1]));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function drawChart(x, y) {
    var fig = $('regression-chart');
    if (!fig) return;
    var svg = fig.querySelector('svg');
    var d = fig.dataset;
    var g = regressionChart(
      { slope: Number(d.slope), intercept: Number(d.intercept) },
      [Number(d.rangeMin), Number(d.rangeMax)],
      { x: x, y: y },
    );
    var bottom = CHART.height - CHART.bottom;
    var right = CHART.width - CHART.right;
    var parts = [svgEl('rect', 'band', ['x', g.band.x, 'y', g.band.y, 'width', g.band.width, 'height', g.band.height])];
    g.xTicks.forEach(function (t) {
      parts.push(svgEl('line', 'grid', ['x1', t.pos, 'y1', CHART.top, 'x2', t.pos, 'y2', bottom]));
      parts.push(svgEl('text', 'tick', ['x', t.pos, 'y', bottom + 16, 'text-anchor', 'middle'], t.label));
    });
    g.yTicks.forEach(function (t) {
      parts.push(svgEl('line', 'grid', ['x1', CHART.left, 'y1', t.pos, 'x2', right, 'y2', t.pos]));
      parts.push(svgEl('text', 'tick', ['x', CHART.left - 6, 'y', t.pos + 4, 'text-anchor', 'end'], t.label));
    });
    parts.push(svgEl('line', 'fit', ['x1', g.line.x1, 'y1', g.line.y1, 'x2', g.line.x2, 'y2', g.line.y2]));
    if (g.point) {
      parts.push(svgEl('line', 'guide', ['x1', g.point.cx, 'y1', bottom, 'x2', g.point.cx, 'y2', g.point.cy]));
      parts.push(svgEl('line', 'guide', ['x1', CHART.left, 'y1', g.point.cy, 'x2', g.point.cx, 'y2', g.point.cy]));
      parts.push(svgEl('circle', 'point', ['cx', g.point.cx, 'cy', g.point.cy, 'r', 5]));
    }
    svg.replaceChildren.apply(svg, parts);
    $('regression-chart-caption').textContent = g.caption;
    var note = $('regression-chart-note');
    note.textContent = g.note || '';
    note.hidden = !g.note;
  }

  /* ---- Results and errors: the same markup as views/partials/result.ejs and error.ejs -------- */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  var COMPUTED = { server: 'Computed on the server.', browser: 'Computed in this browser; nothing was sent.' };

  function showResult(name, p, engine) {
    var box = $(name + '-result');
    box.dataset.engine = engine;
    var parts = [el('p', 'prediction', p.statement)];
    if (p.scores) {
      var list = el('ul', 'scores');
      Object.keys(p.scores).forEach(function (label) {
        var score = p.scores[label];
        var pct = (score * 100).toFixed(1) + ' %';
        var id = name + '-score-' + label;
        var item = el('li', 'score' + (label === p.label ? ' top' : ''));
        var lab = el('label', '', label);
        lab.htmlFor = id;
        var meter = el('meter', '', pct);
        meter.id = id;
        meter.min = 0;
        meter.max = 1;
        meter.value = score;
        item.append(lab, meter, el('span', 'pct', pct));
        list.append(item);
      });
      parts.push(list);
    }
    parts.push(el('p', 'computed', COMPUTED[engine]));
    box.replaceChildren.apply(box, parts);
  }

  function fieldOf(form) {
    return form.querySelector('input[name], textarea[name]');
  }

  function showError(form, message) {
    var name = form.dataset.model;
    var box = $(name + '-error');
    box.textContent = message;
    box.hidden = false;
    fieldOf(form).setAttribute('aria-invalid', 'true');
  }

  function clearError(form) {
    var box = $(form.dataset.model + '-error');
    box.textContent = '';
    box.hidden = true;
    fieldOf(form).removeAttribute('aria-invalid');
  }

  function setBusy(form, busy) {
    var button = form.querySelector('button[type="submit"]');
    var result = $(form.dataset.model + '-result');
    var hadFocus = document.activeElement === button;
    if (busy) {
      form.setAttribute('aria-busy', 'true');
      result.setAttribute('aria-busy', 'true');
    } else {
      form.removeAttribute('aria-busy');
      result.removeAttribute('aria-busy');
    }
    button.disabled = busy;
    // A disabled button drops focus to <body>; give it back so keyboard users stay in place.
    if (!busy && (hadFocus || document.activeElement === document.body)) button.focus();
  }

  function markActive(card) {
    document.querySelectorAll('.card.active').forEach(function (c) {
      c.classList.remove('active');
    });
    card.classList.add('active');
  }

  /** x as the API's example shows it ({"x": 5}) when it is a plain decimal; otherwise the text, so the server's message is the one a form post would get. */
  var DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
  function xValue(text) {
    var t = text.trim();
    return t.length <= 64 && DECIMAL.test(t) && Number.isFinite(Number(t)) ? Number(t) : text;
  }

  function requestFor(form) {
    var name = form.dataset.model;
    var init = { method: 'POST', headers: { Accept: 'application/json' } };
    if (name === 'malaria') {
      init.body = new FormData(form);
    } else {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(name === 'regression' ? { x: xValue($('x').value) } : { review: $('review').value });
    }
    return init;
  }

  /** The same answer from the browser engine (src/browser/engine.ts), when the page chose it. */
  function predictHere(name) {
    var input = name === 'regression' ? $('x').value : name === 'sentiment' ? $('review').value : $('image').files[0];
    return window.mlForms.predict(name, input, { engine: 'browser' }).then(
      function (data) {
        return { ok: true, data: data };
      },
      function (err) {
        return { ok: false, data: { error: { code: err.code, message: err.message } } };
      },
    );
  }

  function enhanceForm(form) {
    var name = form.dataset.model;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (form.getAttribute('aria-busy') === 'true') return;
      var sentX = name === 'regression' ? $('x').value : null;
      var engine = window.mlForms ? window.mlForms.engine : 'server';
      setBusy(form, true);
      var asked =
        engine === 'browser'
          ? predictHere(name)
          : fetch('/api/predict/' + name, requestFor(form)).then(function (res) {
              return res.json().then(
                function (data) {
                  return { ok: res.ok, data: data };
                },
                function () {
                  return { ok: false, data: null, status: res.status };
                },
              );
            });
      asked
        .then(function (answer) {
          var data = answer.data;
          if (!answer.ok || !data || typeof data.statement !== 'string') {
            var message = data && data.error && data.error.message;
            showError(
              form,
              message || 'The server could not answer (status ' + answer.status + '). Try again in a moment.',
            );
            return;
          }
          clearError(form);
          showResult(name, data, engine);
          if (name === 'regression') drawChart(Number(sentX.trim()), data.value);
          markActive(form.closest('.card'));
        })
        .catch(function () {
          showError(form, NETWORK_ERROR);
        })
        .finally(function () {
          setBusy(form, false);
        });
    });
  }

  /* ---- Image input: picker, drag-and-drop, paste, preview ------------------------------------ */
  function enhanceImage() {
    var form = document.querySelector('form[data-model="malaria"]');
    var input = $('image');
    var card = $('malaria');
    if (!form || !input || !card) return;
    var preview = $('image-preview');
    var img = $('image-preview-img');
    var caption = $('image-preview-name');
    var maxBytes = Number(form.dataset.maxBytes) || Infinity;
    var url = null;
    var hint = card.querySelector('.drop-hint');
    if (hint) hint.hidden = false;

    function sizeText(bytes) {
      return bytes < 1024 * 1024
        ? Math.max(1, Math.round(bytes / 1024)) + ' KB'
        : (bytes / (1024 * 1024)).toFixed(1) + ' MB';
    }

    function clearPreview() {
      if (url) URL.revokeObjectURL(url);
      url = null;
      img.removeAttribute('src');
      preview.hidden = true;
    }

    function showPreview(file) {
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(file);
      img.src = url;
      caption.textContent = (file.name || 'Pasted image') + ' · ' + sizeText(file.size) + ' · ready to classify';
      preview.hidden = false;
    }

    /** Checks a file before it is sent; the server checks again, by the bytes, not the name. */
    function check(file) {
      if (ACCEPTED_TYPES.indexOf(file.type) < 0) {
        return 'That file is not a PNG, JPEG, WebP or GIF image. Choose a picture of a cell.';
      }
      if (file.size > maxBytes) {
        return (
          'The file is larger than ' + Math.round((maxBytes / (1024 * 1024)) * 10) / 10 + ' MB. Choose a smaller image.'
        );
      }
      return null;
    }

    function take(file, setInput) {
      var problem = check(file);
      if (problem) {
        input.value = '';
        clearPreview();
        showError(form, problem);
        return;
      }
      if (setInput) {
        try {
          var dt = new DataTransfer();
          dt.items.add(file);
          input.files = dt.files;
        } catch {
          showError(form, 'This browser cannot take dropped or pasted files here. Use the file picker.');
          return;
        }
      }
      clearError(form);
      showPreview(file);
    }

    input.addEventListener('change', function () {
      if (input.files && input.files[0]) take(input.files[0], false);
      else clearPreview();
    });

    function hasFiles(event) {
      return event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, 'Files') >= 0;
    }
    var depth = 0;
    card.addEventListener('dragenter', function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth++;
      card.classList.add('dragover');
    });
    card.addEventListener('dragover', function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    });
    card.addEventListener('dragleave', function () {
      depth = Math.max(0, depth - 1);
      if (depth === 0) card.classList.remove('dragover');
    });
    card.addEventListener('drop', function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      depth = 0;
      card.classList.remove('dragover');
      var file = event.dataTransfer.files[0];
      if (file) take(file, true);
    });
    // A file dropped beside the card would make the browser navigate to it and lose the page.
    ['dragover', 'drop'].forEach(function (type) {
      document.addEventListener(type, function (event) {
        if (hasFiles(event) && !card.contains(event.target)) event.preventDefault();
      });
    });

    // Paste an image anywhere on the page (a screenshot, a copied image): it goes to this card.
    document.addEventListener('paste', function (event) {
      var files = event.clipboardData ? event.clipboardData.files : null;
      var file = files && files.length ? files[0] : null;
      if (!file || file.type.indexOf('image/') !== 0) return;
      event.preventDefault();
      take(file, true);
      card.scrollIntoView({ block: 'nearest' });
    });
  }

  /* ---- Examples and copy buttons -------------------------------------------------------------- */
  function enhanceExamples() {
    document.querySelectorAll('.examples').forEach(function (box) {
      box.hidden = false;
    });
    document.querySelectorAll('button.example').forEach(function (button) {
      button.addEventListener('click', function () {
        var field = $(button.dataset.fill);
        field.value = button.dataset.value;
        field.dispatchEvent(new Event('input', { bubbles: true }));
        field.focus();
      });
    });
  }

  function enhanceCopy() {
    if (!navigator.clipboard || !window.isSecureContext) return;
    document.querySelectorAll('pre.cmd').forEach(function (pre) {
      var wrap = el('div', 'copy-wrap');
      pre.parentNode.insertBefore(wrap, pre);
      wrap.append(pre);
      var button = el('button', 'copy', 'Copy');
      button.type = 'button';
      button.setAttribute('aria-label', 'Copy command');
      button.addEventListener('click', function () {
        navigator.clipboard.writeText(pre.textContent.trim()).then(
          function () {
            button.textContent = 'Copied';
            setTimeout(function () {
              button.textContent = 'Copy';
            }, 1500);
          },
          function () {
            button.textContent = 'Select and copy';
          },
        );
      });
      wrap.append(button);
    });
  }

  function init() {
    document.querySelectorAll('form.model-form').forEach(enhanceForm);
    enhanceImage();
    enhanceExamples();
    enhanceCopy();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
