// postatlas reports: filters over the embedded posts that narrow the post table and dim the linked plots, and a
// panel that shows the post under the cursor (its thumbnail, text and details). Inlined once into every report;
// everything it reads is in the page (#report-posts), nothing is fetched.
(function () {
  "use strict";
  const TABLE_LIMIT = 500;
  const source = document.getElementById("report-posts");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const posts = data.posts;
  const thumbnails = data.thumbnails || [];
  const count = posts.post_id.length;
  const filters = Array.from(document.querySelectorAll("[data-filter]"));
  const tableBody = document.querySelector("#post-table tbody");
  const counter = document.getElementById("post-count");
  const panel = document.getElementById("post-panel");
  const tiles = Array.from(document.querySelectorAll("[data-post]"));

  function passes(filter, row) {
    const value = filter.value.trim();
    if (value === "") return true;
    const column = filter.dataset.filter;
    const cell = posts[column][row];
    if (filter.dataset.bound === "from") return cell !== null && cell >= value;
    if (filter.dataset.bound === "to") return cell !== null && cell.slice(0, value.length) <= value;
    if (filter.type === "search") return (cell || "").toLowerCase().includes(value.toLowerCase());
    return String(cell) === value;
  }

  function matching() {
    const mask = new Uint8Array(count);
    for (let row = 0; row < count; row += 1) {
      mask[row] = filters.every((filter) => passes(filter, row)) ? 1 : 0;
    }
    return mask;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "–" : String(text);
    if (className) td.className = className;
    return td;
  }

  function renderTable(mask) {
    if (!tableBody) return;
    const columns = data.table_columns;
    tableBody.replaceChildren();
    let matched = 0;
    for (let row = 0; row < count; row += 1) {
      if (!mask[row]) continue;
      matched += 1;
      if (matched > TABLE_LIMIT) continue;
      const tr = document.createElement("tr");
      tr.dataset.row = String(row);
      columns.forEach((column) => tr.appendChild(cell(posts[column][row], column === "text" ? "text" : "")));
      tr.addEventListener("click", () => showPost(row));
      tableBody.appendChild(tr);
    }
    if (counter) {
      counter.textContent = matched > TABLE_LIMIT
        ? `${matched.toLocaleString()} of ${count.toLocaleString()} posts match (the first ${TABLE_LIMIT} listed)`
        : `${matched.toLocaleString()} of ${count.toLocaleString()} posts match`;
      counter.dataset.matched = String(matched);
    }
  }

  function dimPlots(mask) {
    const all = mask.every((value) => value === 1);
    document.querySelectorAll(".linked-plot .js-plotly-plot").forEach((plot) => {
      if (!plot.data) return;
      const selected = plot.data.map((trace) => {
        if (all || !trace.customdata) return null;
        const kept = [];
        Array.from(trace.customdata).forEach((row, index) => { if (mask[row]) kept.push(index); });
        return kept;
      });
      window.Plotly.restyle(plot, { selectedpoints: selected });
    });
  }

  function showTiles(mask) {
    tiles.forEach((tile) => { tile.hidden = !mask[Number(tile.dataset.post)]; });
  }

  function showPost(row) {
    if (!panel || row === undefined || row === null || row < 0 || row >= count) return;
    panel.replaceChildren();
    const thumbnail = posts.thumbnail ? posts.thumbnail[row] : -1;
    if (thumbnail !== null && thumbnail >= 0) {
      const image = document.createElement("img");
      image.src = thumbnailUri(thumbnail);
      image.alt = "image of the post";
      panel.appendChild(image);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = data.panel_columns
      .map(([column, label]) => `${label}: ${posts[column][row] ?? "–"}`).join(" · ");
    panel.appendChild(meta);
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = posts.text[row] || "(no text)";
    panel.appendChild(text);
    panel.dataset.row = String(row);
  }

  function thumbnailUri(index) {
    return "data:image/jpeg;base64," + thumbnails[index];
  }

  function update() {
    const mask = matching();
    renderTable(mask);
    dimPlots(mask);
    showTiles(mask);
  }

  function connectPlots() {
    document.querySelectorAll(".linked-plot .js-plotly-plot").forEach((plot) => {
      const pick = (event) => { if (event.points.length) showPost(event.points[0].customdata); };
      plot.on("plotly_hover", pick);
      plot.on("plotly_click", pick);
    });
  }

  window.addEventListener("load", () => {
    connectPlots();
    tiles.forEach((tile) => tile.addEventListener("click", () => showPost(Number(tile.dataset.post))));
    filters.forEach((filter) => filter.addEventListener("input", update));
    update();
  });
  window.postatlasReport = { showPost, update };
})();
