(function(){
  var fig = JSON.parse(document.getElementById('bghop-figure').textContent);
  var meta = JSON.parse(document.getElementById('bghop-samples').textContent);
  var gd = document.getElementById('plot');
  var cur = 0;
  var boxC = document.getElementById('show-contact'), boxP = document.getElementById('show-penetration');
  var boxS = document.getElementById('see-through');
  function visibility(){
    var vis = [];
    for (var t = 0; t < fig.data.length; t++) vis.push(false);
    var m = meta[cur];
    m.meshes.forEach(function(t){ vis[t] = true; });
    vis[m.contact] = boxC.checked;
    vis[m.penetration] = boxP.checked;
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
  boxC.addEventListener('change', function(){ Plotly.restyle(gd, {visible: boxC.checked}, [meta[cur].contact]); });
  boxP.addEventListener('change', function(){ Plotly.restyle(gd, {visible: boxP.checked}, [meta[cur].penetration]); });
  boxS.addEventListener('change', function(){
    Plotly.restyle(gd, {opacity: boxS.checked ? SEE_THROUGH : 1.0}, meta.map(function(m){ return m.object; }));
  });
  document.addEventListener('keydown', function(e){
    if (e.key === 'ArrowDown' || e.key === 'j') show(Math.min(cur + 1, meta.length - 1));
    if (e.key === 'ArrowUp' || e.key === 'k') show(Math.max(cur - 1, 0));
  });
})();
