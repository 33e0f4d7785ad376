// DOM helpers shared by every part of the page: finding an element, building one, and the
// selector of the elements that show a photo. A module of their own so that no feature has to
// import another just to draw.

/**
 * The first element matching `selector` under `root`. The page's markup has every id the code
 * asks for, so callers use the answer directly.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {any}
 */
export const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Builds an element: h('p', {class: 'x', text: 'hi'}, child, ...). Listeners via on<event>.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/**
 * Every element that shows photo `id` (inventory rows, upload rows) carries `data-photo-id`.
 * @param {string} id
 */
export function photoSelector(id) {
  return `[data-photo-id="${CSS.escape(id)}"]`;
}
