(function(){
  var fig = JSON.parse(document.getElementById('bghop-figure').textContent);
  var meta = JSON.parse(document.getElementById('bghop-samples').textContent);
  var gd = document.getElementById('plot');
  var cur = 0;
  var boxC = document.getElementById('show-contact'), boxP = document.getElementById('show-penetration');
  var boxS = document.getElementById('see-through');
  // present only when some sample has robot hands: those samples show their human hands (and the human
  // hands' points) only when boxH is checked, else just in the legend ('legendonly')
  var boxR = document.getElementById('show-robot'), boxH = document.getElementById('show-human');
  function human(m){ return !m.robot || (boxH && boxH.checked); }
  function shown(m, on){ return on ? true : (m.robot ? 'legendonly' : false); }
  function points(m, box){ return box.checked && human(m) ? true : (m.robot && box.checked ? 'legendonly' : false); }
  // the robot hands' own points follow the robot hands and the contact / penetration boxes
  function rpoints(box){ return box.checked ? (boxR.checked ? true : 'legendonly') : false; }
  function visibility(){
    var vis = [];
    for (var t = 0; t < fig.data.length; t++) vis.push(false);
    var m = meta[cur];
    m.meshes.forEach(function(t){ vis[t] = true; });
    if (m.robot) {
      m.hands.forEach(function(t){ vis[t] = shown(m, human(m)); });
      m.robot.forEach(function(t){ vis[t] = shown(m, boxR.checked); });
      vis[m.robot_contact] = rpoints(boxC);
      vis[m.robot_penetration] = rpoints(boxP);
    }
    vis[m.contact] = points(m, boxC);
    vis[m.penetration] = points(m, boxP);
    return vis;
  }
  function show(n){
    cur = n;
    var items = document.querySelectorAll('.sample');
    items.forEach(function(el){ el.classList.toggle('sel', +el.dataset.index === n); });
    var r = meta[n].range;
    Plotly.restyle(gd, {visible: visibility()});
    Plotly.relayout(gd, {'scene.xaxis.range': r[0], 'scene.yaxis.range': r[1], 'scene.zaxis.range': r[2]});
  }
  Plotly.newPlot(gd, fig.data, fig.layout, {responsive: true, displaylogo: false});
  document.querySelectorAll('.sample').forEach(function(el){
    el.addEventListener('click', function(){ show(+el.dataset.index); });
  });
  boxC.addEventListener('change', function(){
    var m = meta[cur];
    Plotly.restyle(gd, {visible: points(m, boxC)}, [m.contact]);
    if (m.robot) Plotly.restyle(gd, {visible: rpoints(boxC)}, [m.robot_contact]);
  });
  boxP.addEventListener('change', function(){
    var m = meta[cur];
    Plotly.restyle(gd, {visible: points(m, boxP)}, [m.penetration]);
    if (m.robot) Plotly.restyle(gd, {visible: rpoints(boxP)}, [m.robot_penetration]);
  });
  if (boxR) boxR.addEventListener('change', function(){
    var m = meta[cur];
    if (!m.robot) return;
    Plotly.restyle(gd, {visible: shown(m, boxR.checked)}, m.robot);
    Plotly.restyle(gd, {visible: [rpoints(boxC), rpoints(boxP)]}, [m.robot_contact, m.robot_penetration]);
  });
  if (boxH) boxH.addEventListener('change', function(){
    var m = meta[cur];
    if (!m.robot) return;
    Plotly.restyle(gd, {visible: shown(m, human(m))}, m.hands);
    Plotly.restyle(gd, {visible: [points(m, boxC), points(m, boxP)]}, [m.contact, m.penetration]);
  });
  boxS.addEventListener('change', function(){
    Plotly.restyle(gd, {opacity: boxS.checked ? SEE_THROUGH : 1.0}, meta.map(function(m){ return m.object; }));
  });
  document.addEventListener('keydown', function(e){
    if (e.key === 'ArrowDown' || e.key === 'j') show(Math.min(cur + 1, meta.length - 1));
    if (e.key === 'ArrowUp' || e.key === 'k') show(Math.max(cur - 1, 0));
  });
})();
